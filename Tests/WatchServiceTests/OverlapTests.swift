import Foundation
@preconcurrency import Glibc
import Testing
@testable import WatchService

/// `overlap_photos`: two photos in flight, one in the network. The built
/// daemon with the `overlap` test processor, which runs a copy in the deblur
/// pipeline's three stages and logs when each starts and ends.
@Suite(.serialized) struct OverlapTests {
    /// What the event log says: the most photos in flight at once, the most
    /// in the network at once, and how many decodes began and encodes ended
    /// while another photo was in the network.
    struct Timeline {
        var maxInFlight = 0, maxInNetwork = 0, decodesBesideANetwork = 0, encodesBesideANetwork = 0
        var order: [String] = []

        init(_ text: String) {
            var inFlight: Set<String> = [], inNetwork: Set<String> = []
            for line in text.split(separator: "\n") {
                let parts = line.split(separator: " ", maxSplits: 1).map(String.init)
                guard parts.count == 2 else { continue }
                let (event, name) = (parts[0], parts[1])
                switch event {
                case "decode-begin":
                    inFlight.insert(name)
                    order.append(name)
                    if !inNetwork.isEmpty { decodesBesideANetwork += 1 }
                case "network-begin": inNetwork.insert(name)
                case "network-end": inNetwork.remove(name)
                case "encode-end":
                    // Ended (not begun: the next photo takes the network as this one
                    // lets it go) while another photo was in the network.
                    if !inNetwork.isEmpty { encodesBesideANetwork += 1 }
                    inFlight.remove(name)
                default: break
                }
                maxInFlight = max(maxInFlight, inFlight.count)
                maxInNetwork = max(maxInNetwork, inNetwork.count)
            }
        }
    }

    func run(config: String?, photos: Int) async throws -> (Timeline, String) {
        let box = try Sandbox()
        var arguments: [String] = []
        if let config {
            let file = box.path("watch.conf")
            try config.write(toFile: file, atomically: true, encoding: .utf8)
            arguments = ["--config", file]
        }
        let d = try DaemonProcess(box, arguments: arguments, environment: ["MTRNN_WATCH_TEST_OVERLAP_LOG": box.path("events")],
                                  processor: "overlap:0.8")
        #expect(await d.waitReady())
        let names = (0..<photos).map { String(format: "IMG_%04d.jpg", $0) }
        for n in names { box.write("inbox/" + n, fakeJPEG(n)) }
        #expect(await eventually(60) { box.list("archive").count == names.count }, "\(d.log)")
        #expect(box.list("outbox") == names)
        for n in names { #expect(box.read("outbox/" + n) == fakeJPEG(n), "\(n)") }
        #expect(await d.stop() == 0)
        #expect(box.list("state/work").isEmpty, "a staging folder was left: \(box.list("state/work"))")
        let events = String(decoding: box.read("events") ?? [], as: UTF8.self)
        return (Timeline(events), events + d.log)
    }

    /// The next photo is decoded and the last one encoded while one is in
    /// the network; never two in the network, never three in flight; the
    /// results are the photos' own bytes.
    @Test(.timeLimit(.minutes(2)))
    func photosOverlapButNeverTwoInTheNetwork() async throws {
        let (t, log) = try await run(config: nil, photos: 5)
        #expect(t.maxInNetwork == 1, "\(log)")
        #expect(t.maxInFlight == 2, "\(log)")
        #expect(t.decodesBesideANetwork >= 2 && t.encodesBesideANetwork >= 2, "\(log)")
        #expect(t.order.count == 5)
    }

    /// `overlap_photos = no`: one photo at a time, as before.
    @Test(.timeLimit(.minutes(2)))
    func overlapPhotosNoTakesOneAtATime() async throws {
        let inbox = "inbox = ./inbox\noutbox = ./outbox\narchive = ./archive\nfailed = ./failed\nstate_dir = ./state\n"
        let (t, log) = try await run(config: inbox + "overlap_photos = no\n", photos: 3)
        #expect(t.maxInFlight == 1 && t.decodesBesideANetwork == 0 && t.encodesBesideANetwork == 0, "\(log)")
        #expect(t.order.count == 3)
    }

    /// A crash with two photos in flight is counted against neither: each
    /// is tried once more alone, the innocent one goes through, and the
    /// photo of death is still quarantined after two crashes of its own.
    @Test(.timeLimit(.minutes(2)))
    func aCrashWithTwoInFlightIsNobodysUntilEachRunsAlone() async throws {
        let box = try Sandbox()
        let env = ["MTRNN_WATCH_TEST_OVERLAP_LOG": box.path("events")]
        box.write("inbox/a.jpg", fakeJPEG("a"))
        let first = try DaemonProcess(box, environment: env, processor: "overlap:4", logName: "run1.log")
        // a.jpg in its network (2 s), then the photo of death beside it.
        #expect(await eventually { String(decoding: box.read("events") ?? [], as: UTF8.self).contains("network-begin a.jpg") },
                "\(first.log)")
        box.write("inbox/boom.jpg", Array("MTRNN-TEST-CRASH and more".utf8))
        #expect(await eventually { !first.process.isRunning }, "run 1 did not crash: \(first.log)")
        #expect(box.list("inbox") == ["a.jpg", "boom.jpg"] && box.list("outbox").isEmpty)
        let eventsOfRun1 = box.read("events")?.count ?? 0

        let second = try DaemonProcess(box, environment: env, processor: "overlap:4", logName: "run2.log")
        #expect(await eventually { !second.process.isRunning }, "run 2 did not crash: \(second.log)")
        #expect(second.log.contains("a.jpg and another photo; each is tried once more, alone"), "\(second.log)")
        #expect(second.log.contains("boom.jpg and another photo; each is tried once more, alone"), "\(second.log)")
        #expect(box.read("outbox/a.jpg") == fakeJPEG("a"), "the innocent photo went through alone: \(second.log)")
        #expect(box.list("inbox") == ["boom.jpg"] && box.list("failed").isEmpty, "one crash of its own is not two")

        let third = try DaemonProcess(box, environment: env, processor: "overlap:4", logName: "run3.log")
        #expect(await eventually { !third.process.isRunning }, "run 3 did not crash: \(third.log)")
        #expect(third.log.contains("stopped unexpectedly while processing boom.jpg; it is tried once more"), "\(third.log)")

        box.write("inbox/later.jpg", fakeJPEG("later"))
        let fourth = try DaemonProcess(box, environment: env, processor: "overlap:0.4", logName: "run4.log")
        #expect(await fourth.waitReady())
        #expect(await eventually { box.read("outbox/later.jpg") == fakeJPEG("later") }, "\(fourth.log)")
        #expect(box.list("failed") == ["boom.jpg", "boom.jpg.reason"])
        let reason = String(decoding: box.read("failed/boom.jpg.reason") ?? [], as: UTF8.self)
        #expect(reason.contains("crashed the daemon twice"), "\(reason)")
        #expect(await fourth.stop() == 0)
        // After the first crash, nothing went through beside a.jpg or boom.jpg.
        let events = String(decoding: (box.read("events") ?? []).dropFirst(eventsOfRun1), as: UTF8.self)
        #expect(Timeline(events).maxInFlight == 1 && events.contains("encode-end a.jpg"), "\(events)")
    }
}

/// The crash guard's markers with one and with two photos in flight.
@Suite struct CrashGuardTests {
    @Test func aCrashCountsOnlyForAPhotoAloneInFlight() throws {
        let box = try Sandbox()
        let guardian = CrashGuard(stateDirectory: box.path("state"))
        let id = FileIdentity(stat())
        guardian.begin(Job("a.jpg"), id)
        guardian.begin(Job("b.jpg"), id)
        let shared = guardian.recover()
        #expect(shared.shared && shared.entries.map(\.path).sorted() == ["a.jpg", "b.jpg"])
        #expect(shared.entries.allSatisfy { $0.crashes == 0 }, "not counted against either")
        #expect(Set(guardian.soloJobs()) == [Job("a.jpg"), Job("b.jpg")], "each goes through alone")
        let nothing = guardian.recover()
        #expect(nothing.entries.isEmpty, "the markers were read once")

        guardian.begin(Job("b.jpg"), id)
        let alone = guardian.recover()
        #expect(!alone.shared && alone.entries.map(\.crashes) == [1])
        guardian.begin(Job("b.jpg"), id)
        #expect(guardian.recover().entries.map(\.crashes) == [2], "counted again")
        guardian.end(Job("a.jpg"), finished: true)
        #expect(guardian.soloJobs() == [Job("b.jpg")], "a turn that ended takes its count file with it")

        // An older release's single marker is read too.
        let legacy = #"{"inbox":true,"path":"c.jpg","identity":"x","crashes":0}"#
        try legacy.write(toFile: box.path("state/in-progress"), atomically: true, encoding: .utf8)
        let old = guardian.recover()
        #expect(old.entries.map(\.path) == ["c.jpg"] && old.entries.map(\.crashes) == [1])
        #expect(!FileManager.default.fileExists(atPath: box.path("state/in-progress")))
    }
}
