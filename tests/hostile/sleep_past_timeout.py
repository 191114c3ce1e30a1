import time


def unlearning(net, retain, forget, validation):
    time.sleep(600)
    return net
