import SpurCore

/// A loss batch stored as safetensors (the input of `spurscope loss`):
/// `image [B,Dv]`, `label [B]`, `attr [B]`, `caption [B,Dt]`,
/// `class_templates [C,K,Dt]`, `group_templates [C,2,K,Dt]`,
/// `W_v [E,Dv]`, `W_t [E,Dt]`, `logit_scale [] or [1]`, and for the official
/// form `attr_prompts [2,Dt]` (the absent and the present value's word prompt).
public enum LossBatchFile {

    /// With `needsAttributePrompts`, `attr_prompts` must be present.
    public static func load(_ file: SafetensorsFile, needsAttributePrompts: Bool = false) throws -> (batch: LossBatch, heads: ProjectionHeads) {
        let image = try file.matrix("image")
        let b = image.rows, dv = image.cols
        let wv = try file.matrix("W_v", shape: [nil, dv])
        let e = wv.rows
        let caption = try file.matrix("caption", shape: [b, nil])
        let dt = caption.cols
        let wt = try file.matrix("W_t", shape: [e, dt])

        let ct = try file.checkedInfo("class_templates", shape: [nil, nil, dt], floating: true)
        let (c, k) = (ct.shape[0], ct.shape[1])
        guard c >= 1, k >= 1 else {
            throw InputError(file: file.path, field: "tensor 'class_templates'", "shape is \(ct.shape), expected at least one class and one template")
        }
        _ = try file.checkedInfo("group_templates", shape: [c, 2, k, dt], floating: true)
        let classTemplates = Matrix(rows: c * k, cols: dt, storage: try file.floats("class_templates"))
        let groupTemplates = Matrix(rows: c * 2 * k, cols: dt, storage: try file.floats("group_templates"))
        try file.requireFinite(classTemplates.storage, name: "class_templates")
        try file.requireFinite(groupTemplates.storage, name: "group_templates")

        _ = try file.checkedInfo("label", shape: [b], floating: false)
        let labels = try file.integers("label")
        if let i = labels.firstIndex(where: { $0 < 0 || $0 >= c }) {
            throw InputError(file: file.path, field: "tensor 'label'", "element \(i) is \(labels[i]), expected a class index in 0..<\(c)")
        }
        _ = try file.checkedInfo("attr", shape: [b], floating: false)
        let attrs = try file.integers("attr")
        if let i = attrs.firstIndex(where: { $0 < -1 || $0 > 1 }) {
            throw InputError(file: file.path, field: "tensor 'attr'", "element \(i) is \(attrs[i]), expected 1 (present), 0 (absent) or -1 (unknown)")
        }

        let ls = try file.checkedInfo("logit_scale", floating: true)
        guard ls.shape == [] || ls.shape == [1] else {
            throw InputError(file: file.path, field: "tensor 'logit_scale'", "shape is \(ls.shape), expected [] or [1]")
        }
        let scale = try file.floats("logit_scale")[0]
        guard scale.isFinite else {
            throw InputError(file: file.path, field: "tensor 'logit_scale'", "is \(scale), expected a finite number")
        }
        var batch = LossBatch(images: image, labels: labels, attributes: attrs, captions: caption,
                              classTemplates: classTemplates, groupTemplates: groupTemplates,
                              classCount: c, templateCount: k)
        if file.names.contains("attr_prompts") {
            batch.attributePrompts = try file.matrix("attr_prompts", shape: [2, dt])
        } else if needsAttributePrompts {
            throw InputError(file: file.path, field: "tensor 'attr_prompts'",
                             "is missing: the official loss form needs the text features [2, \(dt)] of the attribute's absent and present word prompts")
        }
        return (batch, ProjectionHeads(image: wv, text: wt, logitScale: scale))
    }

    /// Writes gradients under the parameter names of the input file.
    public static func writeGradients(_ g: HeadGradients, to path: String) throws {
        var w = SafetensorsWriter()
        w.add("W_v", g.image)
        w.add("W_t", g.text)
        w.add("logit_scale", shape: [], floats: [g.logitScale])
        try w.write(to: path)
    }
}
