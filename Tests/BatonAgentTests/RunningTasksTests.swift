import BatonCore
import Testing

@testable import BatonAgent
@testable import BatonStore

/// The agent's slots: the claim loop and every queue waiter wait for a free slot at once.
@Suite struct RunningTasksTests {
    func control(_ id: String) -> TaskControl {
        let task = StartedTask(
            treeID: "t", taskID: id, attempt: 1, executor: "x", name: id, inputs: .emptyObject, params: .emptyObject,
            schemas: .emptyObject, timeoutSeconds: nil)
        return TaskControl(task: task, queue: ExecutorQueue(executor: "x"))
    }

    /// With one slot taken, both waiters wake when it frees. (Waking only the first one left the
    /// claim loop asleep while the queue waiter took the marker: an agent with free slots and
    /// queued work that claimed nothing, as `priorityOrderWithOneAgent` caught now and then.)
    @Test func everyWaiterWakesWhenASlotFrees() async throws {
        let running = RunningTasks(capacity: 1)
        let busy = control("busy")
        await running.add(busy)
        #expect(await running.free == 0)
        let woken = Counter()
        await withTaskGroup(of: Void.self) { group in
            for _ in 0..<3 {
                group.addTask {
                    await running.waitForFreeSlot()
                    await woken.increment()
                }
            }
            // The waiters are registered before the slot frees.
            while await running.waiterCount < 3 { await Task.yield() }
            await running.remove(busy.member)
            let deadline = ContinuousClock.now + .seconds(5)
            while await woken.value < 3 && ContinuousClock.now < deadline { try? await Task.sleep(for: .milliseconds(5)) }
            #expect(await woken.value == 3, "waiters left asleep with a free slot")
            await running.wakeAll()  // releases any left asleep, so a failure does not hang the suite
        }
        #expect(await running.free == 1)
    }
}

extension RunningTasksTests {
    /// An attempt that ended keeps its lease heartbeated while its report is applied (the
    /// scheduler drops the lease then), at most for its window; its slot is free at once.
    @Test func aSettledAttemptKeepsItsLeaseUntilForgottenOrItsWindowEnds() async throws {
        let running = RunningTasks(capacity: 2)
        let done = control("done"), short = control("short")
        await running.add(done)
        await running.add(short)
        await running.settle(done, window: .seconds(60))
        await running.settle(short, window: .milliseconds(1))
        #expect(await running.free == 2)
        try await Task.sleep(for: .milliseconds(20))
        #expect(await running.membersByQueue() == [ExecutorQueue(executor: "x"): [done.member]], "short's window passed")
        await running.forget(done.member)
        #expect(await running.membersByQueue().isEmpty)
    }
}

private actor Counter {
    var value = 0
    func increment() { value += 1 }
}
