#if canImport(Glibc)
import Glibc
#endif

/// oneDNN (Debian's build) runs its layers on libgomp, whose threads spin
/// while they wait for work. On a shared or virtual machine that spinning
/// fights every other process for the cores: a tile took 2.7x longer with the
/// default policy than with `OMP_WAIT_POLICY=passive` (BENCHMARKS.md).
/// libgomp reads the variable once, when it is loaded, before `main`, so
/// setting it in-process is too late: the executables call this first thing,
/// and it re-executes the program once with the variable set. A policy the
/// user chose is left alone.
public enum OpenMPEnvironment {
    public static func reexecWithPassiveWaitIfUnset() {
        guard getenv("OMP_WAIT_POLICY") == nil else { return }
        setenv("OMP_WAIT_POLICY", "passive", 1)
        // Same PID, descriptors and arguments: systemd's notify socket, the
        // journal stream and the terminal are all kept. If exec fails the
        // program simply goes on with the default policy.
        execv("/proc/self/exe", CommandLine.unsafeArgv)
    }
}
