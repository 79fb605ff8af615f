"""The prompt table of a bundle, in the order of spurscope's synthetic bundle
(`SyntheticBenchmark.prompts`), then StarFT's captions:

1. every class with every template (zero-shot class embeddings, `L_lc`);
2. "a photo of {attribute}." for every vocabulary attribute (zero-shot
   detection in the audit);
3. for every attribute, every class, the phrases "without {attribute}" and
   "with {attribute}" (spurscope's default triage phrases), every template:
   the `L_ls` group prompts "{template filled with '{class} {phrase}'}";
4. StarFT's spuriosity-injected captions, as spurscope's training data asks
   for them: every class-template caption with a context appended before its
   full stop — each of spurscope's generic contexts (`StarContexts.generic`,
   mirrored in `STAR_CONTEXTS`), then each attribute's default present phrase
   "with {attribute}".

Blocks 3 and 4 cover `group_attributes` (default: the whole vocabulary), which
keeps the table bounded for datasets with many classes. With `full=False` the
table stops after block 2: a bundle that records its text checkpoint
(`text_checkpoint`) has spurscope encode every other prompt when a method asks
for it, with whatever phrase the expert wrote. Blocks 3 and 4 are most of the
table (155,904 of 155,984 prompts for two classes and the default 304 words).
"""

# spurscope's `StarContexts.generic`, in its order (a test checks the two agree).
STAR_CONTEXTS = ['in a forest', 'near a lake', 'on the beach', 'in the desert', 'on a mountain', 'in a meadow', 'near the ocean', 'in a city street', 'on a rooftop', 'in a garden', 'on a farm', 'in a swamp', 'near a river', 'in the snow', 'on a rock', 'in a park', 'in a field of grass', 'near a waterfall', 'in a bamboo grove', 'on a wooden fence', 'in a cave', 'on a sandy shore', 'in the jungle', 'near a pond', 'on ice', 'in a wheat field', 'on a tree branch', 'in a parking lot', 'near a harbor', 'on a lawn', 'in the mountains at dawn', 'under a cloudy sky', 'at sunset', 'at night', 'in the rain', 'in fog', 'indoors', 'in a cage', 'in a zoo', 'on a road', 'as a pencil sketch', 'as an oil painting', 'as a watercolor painting', 'as a cartoon', 'in black and white', 'with a grainy texture', 'as an embroidery', 'as a mosaic', 'as a plastic toy', 'as a sculpture', 'in low resolution', 'out of focus', 'with motion blur', 'overexposed', 'underexposed', 'as a jpeg with artifacts', 'as a tiny thumbnail', 'in a cropped close-up', 'from far away', 'with heavy noise']


def inject(context, caption):
    """`StarContexts.inject`: the context appended before the caption's final stop."""
    base = caption.strip()
    while base and base[-1] in ".!?":
        base = base[:-1]
    return f"{base} {context}."


def fill(template, text):
    return template.replace("{}", text)


def prompt_table(classes, templates, attributes, group_attributes=None, full=True):
    group_attributes = attributes if group_attributes is None else group_attributes
    out = [fill(t, c) for c in classes for t in templates]
    out += [f"a photo of {a}." for a in attributes]
    if not full:
        return out
    for a in group_attributes:
        for c in classes:
            for phrase in (f"without {a}", f"with {a}"):
                out += [fill(t, f"{c} {phrase}") for t in templates]
    contexts = list(dict.fromkeys(STAR_CONTEXTS + [f"with {a}" for a in group_attributes]))
    for c in classes:
        for t in templates:
            caption = fill(t, c)
            out += [inject(x, caption) for x in contexts]
    return out
