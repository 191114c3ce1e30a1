def unlearning(net, retain, forget, validation):
    while True:
        pass
