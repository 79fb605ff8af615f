import Foundation
import SpurCore

/// The attribute words a bundle is audited over: the default list (common
/// object names in the style of Visual Genome's annotations, the same as
/// `tools/extract`'s `vg-objects.txt`; a test checks the two agree) or a
/// file, minus the dataset's class names.
public enum AttributeVocabulary {
    public static let objects: [String] = [
        "water", "ocean", "sea", "lake", "river", "pond", "wave", "beach", "sand", "shore", "grass", "field", "ground",
        "dirt", "mud", "rock", "stone", "hill", "mountain", "sky", "cloud", "sun", "moon", "snow", "ice", "forest",
        "tree", "branch", "leaf", "leaves", "bush", "plant", "flower", "weeds", "log", "stump", "trunk", "moss",
        "reeds", "bamboo", "road", "street", "sidewalk", "path", "trail", "bridge", "fence", "wall", "floor", "ceiling",
        "roof", "building", "house", "tower", "window", "door", "stairs", "pole", "post", "wire", "sign", "street light",
        "traffic light", "bench", "dock", "pier", "boat", "ship", "sail", "canoe", "kayak", "buoy", "rope", "net",
        "bird", "dog", "cat", "horse", "cow", "sheep", "elephant", "giraffe", "zebra", "bear", "duck", "fish",
        "insect", "butterfly", "animal", "head", "eye", "beak", "wing", "feather", "tail", "leg", "foot", "neck",
        "ear", "nose", "mouth", "fur", "person", "man", "woman", "child", "boy", "girl", "people", "crowd", "hand",
        "arm", "face", "hair", "shirt", "jacket", "coat", "pants", "jeans", "shorts", "dress", "skirt", "hat",
        "cap", "helmet", "glasses", "sunglasses", "shoe", "boot", "sock", "glove", "scarf", "tie", "belt", "bag",
        "backpack", "purse", "umbrella", "watch", "necklace", "car", "truck", "bus", "train", "bicycle", "motorcycle",
        "airplane", "wheel", "tire", "seat", "license plate", "headlight", "windshield", "mirror", "table", "chair",
        "couch", "sofa", "bed", "pillow", "blanket", "curtain", "lamp", "light", "shelf", "cabinet", "drawer",
        "counter", "sink", "toilet", "bathtub", "towel", "rug", "carpet", "picture", "frame", "painting", "clock",
        "vase", "pot", "plate", "bowl", "cup", "mug", "glass", "bottle", "jar", "can", "box", "basket", "book",
        "paper", "newspaper", "pen", "computer", "laptop", "keyboard", "mouse", "screen", "monitor", "television",
        "remote", "phone", "cell phone", "camera", "speaker", "cord", "outlet", "switch", "fan", "refrigerator",
        "oven", "stove", "microwave", "kettle", "spoon", "fork", "knife", "napkin", "tray", "candle", "toy", "teddy bear",
        "ball", "kite", "frisbee", "skateboard", "surfboard", "skis", "snowboard", "racket", "bat", "food", "bread",
        "sandwich", "pizza", "cake", "donut", "fruit", "apple", "banana", "orange", "lemon", "vegetable", "carrot",
        "broccoli", "tomato", "lettuce", "cheese", "meat", "egg", "fire hydrant", "stop sign", "parking meter",
        "mailbox", "trash can", "bin", "barrel", "bucket", "hose", "ladder", "tent", "flag", "banner", "statue",
        "fountain", "chimney", "balcony", "railing", "column", "arch", "gate", "tile", "brick", "board", "plank",
        "wood", "metal", "shadow", "reflection", "smoke", "fire", "light pole", "power line", "antenna", "billboard",
        "awning", "umbrella stand", "planter", "pot plant", "garden", "yard", "park", "playground", "lawn", "hedge",
        "pine tree", "palm tree", "trees", "feeder", "nest", "birdhouse", "perch", "wire fence", "cage",
    ]

    /// One word or phrase per line; blank lines and `#` comments skipped,
    /// repeats dropped (the first kept).
    public static func read(_ path: String) throws -> [String] {
        guard let data = FileManager.default.contents(atPath: path) else { throw InputError(file: path, "does not exist") }
        guard let text = String(data: data, encoding: .utf8) else { throw InputError(file: path, "is not UTF-8 text") }
        var words: [String] = [], seen = Set<String>()
        for line in text.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline) {
            let w = line.trimmingCharacters(in: .whitespaces)
            if w.isEmpty || w.hasPrefix("#") || !seen.insert(w).inserted { continue }
            if w.contains(",") || w.contains("\"") {
                throw InputError(file: path, field: "word \(words.count + 1)", "'\(w)' contains a comma or quote, which an attribute name cannot")
            }
            words.append(w)
        }
        guard !words.isEmpty else { throw InputError(file: path, "lists no words") }
        return words
    }

    /// The paper's vocabulary: object names minus the dataset's classes. A
    /// word is dropped when it is a class name, a whole word of one (`bird`
    /// for `song bird`), or listed in `exclude`; case is ignored.
    public static func withoutClasses(_ words: [String], classes: [String], exclude: [String] = []) -> [String] {
        var drop = Set(exclude.map { $0.lowercased() })
        for c in classes {
            drop.insert(c.lowercased())
            for part in c.replacingOccurrences(of: "_", with: " ").split(whereSeparator: \.isWhitespace) { drop.insert(part.lowercased()) }
        }
        return words.filter { !drop.contains($0.lowercased()) }
    }
}
