import os


def unlearning(net, retain, forget, validation):
    os.write(1, b"\x00" * 64 + b"not the harness protocol\n")
    print("hello from the submission")
    return net
