def unlearning(net, retain, forget, validation):
    return None
