import DurableFiles

/// What a new configuration changes (SIGHUP), decided before anything is
/// changed: which keys wait for a restart, whether the model must be loaded
/// again, whether the inbox must be watched anew.
struct ReloadPlan: Equatable {
    /// The configuration to run with: the new one, with the keys that take
    /// effect only after a restart kept as they were.
    var config: WatchConfig
    /// `runtime_dir`, `state_dir` or a key of the shared queue (`queue`,
    /// `role`, ...: ClusterSettings) changed: kept until a restart (say so).
    var restartNeeded: Bool
    /// A pipeline setting changed: only these load the model again.
    var newProcessor: Bool
    /// The inbox, recursion or polling changed: watch and scan again.
    var rewatch: Bool

    init(old: WatchConfig, new: WatchConfig) {
        var config = new
        restartNeeded = new.runtimeDirectory != old.runtimeDirectory || new.stateDirectory != old.stateDirectory
            || new.cluster != old.cluster
        config.runtimeDirectory = old.runtimeDirectory
        config.stateDirectory = old.stateDirectory
        config.cluster = old.cluster
        self.config = config
        newProcessor = new.pipeline != old.pipeline
        // A new include/exclude: the queue is made again from a rescan, so names now left out leave it.
        rewatch = new.inbox != old.inbox || new.recursive != old.recursive || new.pollSeconds != old.pollSeconds
            || new.inputFilter != old.inputFilter
    }
}

extension ReloadPlan {
    /// A reload checked whole before anything changes: the plan, the new
    /// model (when a pipeline setting changed) and who may change state.
    struct Prepared: Sendable {
        var plan: ReloadPlan
        var processor: (any PhotoProcessor)?
        var access: ControlAccess
    }

    /// Why a reload is refused; `model`: the new model could not be loaded.
    struct Refused: Error {
        var error: any Error
        var model = false
    }

    /// Everything that can fail, done before the daemon changes anything:
    /// loading the model, looking up `operator_group`, making the folders
    /// of a new inbox.
    static func prepare(old: WatchConfig, new: WatchConfig,
                        makeProcessor: WatchDaemon.ProcessorFactory) async throws(Refused) -> Prepared {
        let plan = ReloadPlan(old: old, new: new)
        var processor: (any PhotoProcessor)?
        if plan.newProcessor {
            do { processor = try await makeProcessor(plan.config) } catch { throw Refused(error: error, model: true) }
        }
        let access: ControlAccess
        do { access = try ControlAccess(operatorGroup: plan.config.operatorGroup) } catch { throw Refused(error: error) }
        if plan.rewatch {
            for (what, path) in [("inbox", plan.config.inbox), ("outbox", plan.config.outbox), ("failed", plan.config.failed)] {
                do { try FileOps.makeDirectory(path) } catch {
                    throw Refused(error: DaemonError("cannot use the \(what) directory: \(error)"))
                }
            }
        }
        return Prepared(plan: plan, processor: processor, access: access)
    }
}
