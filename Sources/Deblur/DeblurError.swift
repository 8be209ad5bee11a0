import Foundation

/// Why one photo could not be deblurred, or a pipeline could not start;
/// each case names the file. The library states the facts: advice that names
/// a flag or a configuration key is the caller's to give (`mtrnnctl` and
/// the daemon call the same setting differently).
public enum DeblurError: Error, Sendable, CustomStringConvertible {
    case invalidOptions(SettingProblem)
    case weights(URL, underlying: String)
    case outputIsInput(URL)
    case outputExists(URL)
    case read(URL, underlying: String)
    case inference(URL, underlying: String)
    case write(URL, underlying: String)

    public var description: String {
        switch self {
        case .invalidOptions(let why):
            return "invalid options: \(why)"
        case .weights(let url, let why):
            return "\(url.path): cannot load the MT-RNN weights: \(why)"
        case .outputIsInput(let url):
            return "\(url.path): the output would replace the input; choose another output name or folder"
        case .outputExists(let url):
            return "\(url.path): the output already exists"
        case .read(let url, let why):
            return "\(url.path): cannot read the photo: \(why)"
        case .inference(let url, let why):
            return "\(url.path): deblurring failed: \(why)"
        case .write(let url, let why):
            return "\(url.path): cannot write the output: \(why); check the folder exists, is writable and has space"
        }
    }

    /// The underlying error's text without a leading file name, since every
    /// case already starts with the path (PhotoIO and MTRNN errors name the
    /// file themselves: "IMG_1.jpg: ...", "weights file /x: ...").
    static func detail(_ error: any Error, about url: URL) -> String {
        var text = "\(error)"
        for prefix in ["weights file \(url.path): ", "\(url.path): ", "\(url.lastPathComponent): "]
        where text.hasPrefix(prefix) {
            text.removeFirst(prefix.count)
            break
        }
        return text
    }
}
