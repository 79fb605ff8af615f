"""The prompt table of a bundle, in the order of spurscope's synthetic bundle
(`SyntheticBenchmark.prompts`), then StarFT's captions:

1. every class with every template (zero-shot class embeddings, `L_lc`);
2. "a photo of {attribute}." for every vocabulary attribute (zero-shot
   detection in the audit);
3. for every attribute, every class, the phrases "without {attribute}" and
   "with {attribute}" (spurscope's default triage phrases), every template:
   the `L_ls` group prompts "{template filled with '{class} {phrase}'}";
4. for the same attributes and classes, "a photo of a {class} with
   {attribute}." and "... without {attribute}." (StarFT's spuriosity-injected
   captions, as spurscope's training data asks for them).

Blocks 3 and 4 cover `group_attributes` (default: the whole vocabulary), which
keeps the table bounded for datasets with many classes.
"""


def fill(template, text):
    return template.replace("{}", text)


def prompt_table(classes, templates, attributes, group_attributes=None):
    group_attributes = attributes if group_attributes is None else group_attributes
    out = [fill(t, c) for c in classes for t in templates]
    out += [f"a photo of {a}." for a in attributes]
    for a in group_attributes:
        for c in classes:
            for phrase in (f"without {a}", f"with {a}"):
                out += [fill(t, f"{c} {phrase}") for t in templates]
    for a in group_attributes:
        for c in classes:
            out += [f"a photo of a {c} {phrase}." for phrase in (f"with {a}", f"without {a}")]
    return out
