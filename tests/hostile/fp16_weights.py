def unlearning(net, retain, forget, validation):
    return net.half()
