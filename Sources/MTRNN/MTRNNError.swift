/// Errors a user of the engine can see. Each says what happened, to which
/// file or layer, and what to do about it.
public enum MTRNNError: Error, CustomStringConvertible, Sendable {
    /// A weights file (or other safetensors file) could not be used.
    case weightsFile(path: String, reason: String)
    /// The requested precision cannot run on this CPU.
    case unsupportedPrecision(String)
    /// An input the engine cannot process.
    case invalidInput(String)
    /// An allocation failed: the machine's memory, not the input, is at fault.
    case outOfMemory(String)
    /// oneDNN refused a call; `context` names the layer or step.
    case dnnl(call: String, status: Int, context: String)

    public var description: String {
        switch self {
        case let .weightsFile(path, reason):
            return "weights file \(path): \(reason)"
        case let .unsupportedPrecision(message):
            return message
        case let .invalidInput(message):
            return "invalid input: \(message)"
        case let .outOfMemory(message):
            return "out of memory: \(message)"
        case let .dnnl(call, status, context):
            return "oneDNN \(call) failed with status \(DNNL.statusName(status)) (\(status)) while \(context); "
                + "run with ONEDNN_VERBOSE=1 for details"
        }
    }
}
