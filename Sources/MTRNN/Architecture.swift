/// Every parameter of MT-RNN by its name in the authors' `mtrnn.py`
/// state_dict, with its shape: the contract a weights file must meet.
/// (Conv2d weights are [out, in, kh, kw]; ConvTranspose2d [in, out, kh, kw].)
enum Architecture {
    static let c1 = 32, c2 = 64, c3 = 128

    /// Residual blocks, in the order they run.
    static let level1Encoder = ["conv1_2", "conv1_3", "conv1_4"]
    static let level2Encoder = ["conv2_2", "conv2_3", "conv2_4"]
    static let level3 = ["conv3_2", "conv3_3", "conv3_4", "conv4_1", "conv4_2", "conv4_3"]
    static let level2Decoder = ["conv5_2", "conv5_3", "conv5_4"]
    static let level1Decoder = ["conv6_2", "conv6_3", "conv6_4"]

    static var expectedShapes: [String: [Int]] {
        var s: [String: [Int]] = [:]
        func conv(_ name: String, _ cin: Int, _ cout: Int, _ k: Int) {
            s["\(name).0.weight"] = [cout, cin, k, k]
            s["\(name).0.bias"] = [cout]
        }
        func res(_ name: String, _ ch: Int) {
            for i in [0, 2] {
                s["\(name).stem.\(i).weight"] = [ch, ch, 3, 3]
                s["\(name).stem.\(i).bias"] = [ch]
            }
        }
        func upconv(_ name: String, _ cin: Int, _ cout: Int) {
            s["\(name).0.weight"] = [cin, cout, 4, 4]
            s["\(name).0.bias"] = [cout]
        }
        for m in ["sub_mean", "add_mean"] {
            s["\(m).weight"] = [3, 3, 1, 1]
            s["\(m).bias"] = [3]
        }
        conv("conv1_1", 6, c1, 3)
        conv("conv2_1", c1, c2, 3)
        conv("conv2_c", 2 * c2, c2, 1)
        conv("conv3_1", c2, c3, 3)
        conv("conv3_c", 2 * c3, c3, 1)
        upconv("conv5_1", c3, c2)
        conv("conv5_c", 2 * c2, c2, 1)
        upconv("conv6_1", c2, c1)
        conv("conv6_c", 2 * c1, c1, 1)
        conv("img_prd", c1, 3, 3)
        for n in level1Encoder + level1Decoder { res(n, c1) }
        for n in level2Encoder + level2Decoder { res(n, c2) }
        for n in level3 { res(n, c3) }
        return s
    }
}
