"""The synthetic mining corpus: filler sentences with planted strategic phrases."""

import random

PLANTED = {
    "branching": ["let's try a different approach", "maybe another method works better"],
    "backtracing": ["let me double-check that", "wait a minute here"],
    "deduction": ["so we can deduce that"],
}
DISTRACTORS = ["the area of the triangle", "the blue marble count"]  # recurring but rare
_VOCAB = (
    "apple river seven cloud matrix angle prime vector orange circle basket lemon "
    "window tiger cobalt sonnet meadow granite violet harbor pepper candle quartz "
    "ladder velvet magnet saddle thunder willow copper falcon garden helmet island "
    "jacket kettle lantern mirror needle oyster pillow rocket silver tunnel umbrella "
    "valley wagon yogurt zephyr anchor bamboo cactus dragon engine feather glacier"
).split()


def synthetic_corpus(n_docs: int = 60, seed: int = 0) -> list[dict]:
    """Records {text, correct}: random filler sentences, planted phrases in most correct docs,
    two distractor phrases in a handful; a third of the records are incorrect."""
    rng = random.Random(seed)
    planted = [p for ps in PLANTED.values() for p in ps]
    records = []
    for d in range(n_docs):
        sentences = [
            " ".join(rng.choice(_VOCAB) for _ in range(rng.randint(4, 9)))
            for _ in range(rng.randint(6, 10))
        ]
        for p in rng.sample(planted, 3):
            i = rng.randrange(len(sentences))
            sentences[i] = f"{p}, {sentences[i]}"
        if d % 10 == 0:
            for p in DISTRACTORS:
                sentences.append(f"{p}, {rng.choice(_VOCAB)}")
        text = ". ".join(s.capitalize() for s in sentences) + "."
        records.append({"text": text, "correct": d % 3 != 2})
    return records
