import SpurCore
import SpurEngine
enum RunStore { static func bestHeads(run: Int, bundle: String, workspace: WorkspaceOption) throws -> ProjectionHeads { throw InputError(file: "--checkpoint", "runs arrive with the training engine") } }
