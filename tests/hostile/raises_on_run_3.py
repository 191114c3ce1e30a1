calls = 0


def unlearning(net, retain, forget, validation):
    global calls
    calls += 1
    if calls == 3:
        raise ValueError("third call fails")
    return net
