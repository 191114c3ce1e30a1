"""Which training examples form the forget set, and the label poisoning scenario.

The seed projects asked for forget sets beyond a random draw:

- `random`: a seeded uniform draw (the default). Where the data name who is
  pictured (an image folder's manifest with a person_id column), the draw
  takes whole persons, as the competition's forget set did: persons in a
  seeded order until the forget set holds at least the size asked for.
- `class`: drawn from a few seeded classes only, like the competition's forget
  set, which was concentrated in some age groups.
- `hardest`: the examples with the highest loss under the original model, the
  white-box request an attacker would send to hurt the model most.
- `poisoned`: a seeded fraction of the training labels is flipped to another
  class before the original model is trained; the forget set is exactly the
  flipped examples, so unlearning them should bring clean accuracy back.
  Flips are targeted, as in label-flipping attacks (Biggio et al. 2012):
  half of each of a few seeded source classes takes one seeded target label,
  enough source classes to flip the fraction asked for. Flips spread
  uniformly over all classes barely hurt a model (on digits, 45% of them cost
  the MLP 2 points of test accuracy), which would leave nothing to restore.

Every choice is a pure function of the spec's seeds and the data (for
`hardest`, of the losses the caller computes), so the same spec always gets
the same forget set.
"""

from collections.abc import Callable

import numpy as np

from reference_models.errors import InputError

SELECTIONS = ("random", "class", "hardest", "poisoned")
PERSON_CHOICES = ("random", "first", "next")  # of a forget set of a number of persons; "next" is a fixed choice's private split
FORGET_CLASSES = 3  # how many classes a `class` forget set is drawn from
FLIPPED_SHARE = 0.5  # of each source class, for `poisoned`


def _random(rng: np.random.Generator, candidates: np.ndarray, size: int) -> np.ndarray:
    if size > len(candidates):
        raise InputError(f"a forget set of {size} examples needs more than the {len(candidates)} candidates")
    return rng.choice(candidates, size=size, replace=False)


def _whole_persons(rng: np.random.Generator, persons: np.ndarray, size: int) -> np.ndarray:
    """Every example of seeded persons, person after person, until at least `size` examples."""
    if size > len(persons):
        raise InputError(f"a forget set of {size} examples needs more than the {len(persons)} candidates")
    names, counts = np.unique(persons, return_counts=True)
    drawn = rng.permutation(len(names))
    enough = int(np.searchsorted(np.cumsum(counts[drawn]), size)) + 1  # the first prefix that holds `size` examples
    return np.flatnonzero(np.isin(persons, names[drawn[:enough]]))


def forget_persons(persons: np.ndarray, count: int, choice: str, seed: int) -> np.ndarray:
    """A boolean forget mask holding every example of `count` persons: seeded (`random`), the lowest ids
    (`first`, as the NeurIPS 2023 organisers took LeavePGroupsOut(n_groups=15)'s first split), or the
    `count` ids after those (`next`), so that a fixed choice's private split is disjoint from its public one."""
    names = np.unique(persons)
    wanted = 2 * count if choice == "next" else count
    if wanted > len(names):
        raise InputError(f"a forget set of {count} persons ({choice}) needs {wanted} persons in train; it has {len(names)}")
    if choice == "random":
        chosen = np.random.default_rng(seed).choice(names, size=count, replace=False)
    elif choice in ("first", "next"):
        chosen = names[wanted - count : wanted]
    else:
        raise InputError(f"unknown choice of persons {choice!r}; known: {', '.join(PERSON_CHOICES)}")
    return np.isin(persons, chosen)


def _flip_targeted(rng: np.random.Generator, labels: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Flip `size` labels, half of each seeded source class to its seeded target: the flipped
    indices and the labels as trained on."""
    classes = np.unique(labels)
    trained_labels = labels.copy()
    chosen: list[np.ndarray] = []
    for source in rng.permutation(classes):
        missing = size - sum(len(part) for part in chosen)
        if missing <= 0:
            break
        members = np.flatnonzero(labels == source)
        flipped = rng.choice(members, size=min(missing, int(FLIPPED_SHARE * len(members))), replace=False)
        trained_labels[flipped] = rng.choice(classes[classes != source])
        chosen.append(flipped)
    flipped = np.concatenate(chosen)
    if len(flipped) < size:
        raise InputError(f"poisoning flips at most {FLIPPED_SHARE:.0%} of each class ({len(flipped)} examples here); ask for a smaller fraction")
    return flipped, trained_labels


def select_forget(
    selection: str,
    labels: np.ndarray,
    size: int,
    seed: int,
    losses: Callable[[], np.ndarray],
    persons: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """A boolean forget mask over the training examples, and the training labels as trained on.

    `losses` gives each training example's loss under the original model; it
    is called for `hardest` only (it trains a model). The labels differ from
    `labels` only for `poisoned`, where the forget examples carry their
    flipped label. `persons` (who each example pictures, or None) makes a
    `random` forget set take whole persons.
    """
    if selection not in SELECTIONS:
        raise InputError(f"unknown forget selection {selection!r}; known: {', '.join(SELECTIONS)}")
    rng = np.random.default_rng(seed)
    everything = np.arange(len(labels))
    trained_labels = labels
    if selection == "random" and persons is not None:
        chosen = _whole_persons(rng, persons, size)
    elif selection == "random":
        chosen = _random(rng, everything, size)
    elif selection == "class":
        classes = rng.choice(np.unique(labels), size=FORGET_CLASSES, replace=False)
        chosen = _random(rng, everything[np.isin(labels, classes)], size)
    elif selection == "hardest":
        chosen = np.argsort(-losses(), kind="stable")[:size]
    else:
        chosen, trained_labels = _flip_targeted(rng, labels, size)
    mask = np.zeros(len(labels), dtype=bool)
    mask[chosen] = True
    return mask, trained_labels
