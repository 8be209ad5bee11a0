@testable import ClusterQueue
import XCTest

final class QueueLocationTests: XCTestCase {
    func testInboxIsNoSharedQueue() throws {
        XCTAssertNil(try QueueLocation.parse("inbox"))
    }

    func testHostPortDatabaseAndPassword() throws {
        let l = try XCTUnwrap(try QueueLocation.parse("postgresql://mtrnn:s%40cret@db.example:6543/photos?sslmode=require", environment: [:]))
        XCTAssertEqual(l.user, "mtrnn")
        XCTAssertEqual(l.password, "s@cret")
        XCTAssertEqual(l.host, "db.example")
        XCTAssertEqual(l.port, 6543)
        XCTAssertEqual(l.database, "photos")
        XCTAssertEqual(l.tls, .require)
        XCTAssertNil(l.socketPath)
        XCTAssertEqual(l.description, "postgresql://mtrnn@db.example:6543/photos", "the password never shows")
    }

    func testUnixSocketFolderAndDefault() throws {
        let l = try XCTUnwrap(try QueueLocation.parse("postgres://mtrnn@/mtrnn?host=/tmp/pg&port=5433", environment: [:]))
        XCTAssertEqual(l.socketPath, "/tmp/pg/.s.PGSQL.5433")
        XCTAssertEqual(l.tls, .disable)
        let d = try XCTUnwrap(try QueueLocation.parse("postgresql://mtrnn@/mtrnn", environment: ["MTRNN_QUEUE_PASSWORD": "pw"]))
        XCTAssertEqual(d.socketPath, "/run/postgresql/.s.PGSQL.5432")
        XCTAssertEqual(d.password, "pw")
    }

    func testMistakesNameWhatIsMissing() {
        for (value, expected) in [("mysql://a@b/c", "PostgreSQL URL"), ("postgresql://host/db", "user name"),
                                  ("postgresql://u@host/", "database name"), ("postgresql://u@h/d?sslmode=maybe", "sslmode"),
                                  ("postgresql://u@h/d?application_name=x", "only host, port and sslmode")] {
            XCTAssertThrowsError(try QueueLocation.parse(value, environment: [:]), value) { error in
                XCTAssertTrue("\(error)".contains(expected), "\(value): \(error)")
            }
        }
    }

    func testQueueLineOfAConfigurationFile() throws {
        let path = NSTemporaryDirectory() + "/queue-\(getpid()).conf"
        try "# c\ninbox = /srv/in\nqueue = \"postgresql://m@db/m\"  \n".write(toFile: path, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: path) }
        XCTAssertEqual(try QueueLocation.queueSetting(inConfigFile: path), "postgresql://m@db/m")
    }
}
