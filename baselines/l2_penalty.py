"""L2 penalty: fine-tune on retain under a strong L2 penalty on the weights, so that forget-specific memorisation decays.

Source: a Kaggle participant's report of the baselines of the NeurIPS 2023
Machine Unlearning competition (a discussion-forum post on Kaggle), which
names an "L2 penalty" baseline; it is not a paper and gives no exact
recipe, so this file is our reading of it. It is plain fine-tuning on
retain with the weight decay (an L2 penalty pulling every weight towards
zero) raised well above the training recipe's. Weights that only the
forget set held in place get no support from the retain loss, so the
penalty shrinks them; weights that retain needs are restored by its loss
at every step.

On digits-mlp the penalty does not help: at 3 epochs and learning rate
0.1, N=16 scores fall as the decay grows (5e-4, the recipe's and so plain
fine-tuning: 0.044; 2e-3: 0.038; 5e-3: 0.012; 1e-2: 0.005; 5e-2: 0.003),
because shrinking the weights lowers the confidence on every example, and
the forget set then looks less "seen" than unseen data. The constant keeps
the baseline what it claims to be, a strong penalty, at the weakest value
that is clearly one.

Hyperparameters (scaled to digits-mlp):
- EPOCHS 3: a tenth of the training recipe's 30, within the time budget.
- LEARNING_RATE 0.1: the training rate, with the kit's momentum 0.9 and
  cosine schedule.
- WEIGHT_DECAY 5e-3: ten times the recipe's 5e-4.
"""

from torch import nn

from harness import kit

EPOCHS = 3
LEARNING_RATE = 0.1
WEIGHT_DECAY = 5e-3


def unlearning(net: nn.Module, retain, forget, validation) -> nn.Module:
    recipe = kit.training_recipe(epochs=EPOCHS, learning_rate=LEARNING_RATE, weight_decay=WEIGHT_DECAY)
    return kit.fit(net, retain, recipe)
