import os


def unlearning(net, retain, forget, validation):
    os._exit(3)
