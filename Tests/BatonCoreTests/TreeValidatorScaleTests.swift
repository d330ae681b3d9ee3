import Foundation
import Testing

@testable import BatonCore

/// Large arrays: correctness only (timing is checked by hand in release builds, not asserted).
@Suite("TreeValidator at scale")
struct TreeValidatorScaleTests {
    static let count = 100_000

    @Test func chainOf100kTasks() throws {
        // task-0 is the root; task-i is a child of the root and depends on task-(i-1) by name.
        var items = [TaskSubmission(id: "task-0", name: "n0")]
        items.reserveCapacity(Self.count)
        for i in 1..<Self.count {
            items.append(TaskSubmission(id: "task-\(i)", name: "n\(i)", parentID: "task-0", dependencies: [.name("n\(i - 1)")]))
        }
        let tree = try TreeValidator().validate(items, now: Date())
        #expect(tree.tasks.count == Self.count)
        #expect(tree.treeID == "task-0")
        #expect(tree.externalDependencies.isEmpty)
        #expect(tree.tasks[0].hasChildren)
        #expect(tree.tasks[99_999].dependencies == [Dependency(id: "task-99998")])
        let wrong = tree.tasks.indices.dropFirst().filter { tree.tasks[$0].dependencies != [Dependency(id: "task-\($0 - 1)")] }
        #expect(wrong.isEmpty)
    }

    @Test func deepParentChainOf100kTasks() throws {
        // Each task is the parent of the next: no recursion may overflow the stack.
        var items = [TaskSubmission(name: "n0")]
        for i in 1..<Self.count {
            items.append(TaskSubmission(name: "n\(i)", parentID: "n\(i - 1)", dependencies: [.id("n\(i - 1)")]))
        }
        let tree = try TreeValidator().validate(items, now: Date())
        #expect(tree.tasks.count == Self.count)
        #expect(tree.tasks.filter(\.hasChildren).count == Self.count - 1)
        #expect(tree.tasks[Self.count - 1].parentID == tree.tasks[Self.count - 2].id)
    }

    @Test func fanOutOf100kTasks() throws {
        var items = [TaskSubmission(id: "root", name: "root")]
        for i in 1..<Self.count {
            items.append(TaskSubmission(name: "leaf-\(i)", parentID: "root", dependencies: [.id("root"), .id("external-1")]))
        }
        let tree = try TreeValidator().validate(items, now: Date())
        #expect(tree.tasks.count == Self.count)
        #expect(tree.rootIDs == ["root"])
        #expect(tree.externalDependencies == ["external-1"])
        #expect(Set(tree.tasks.map(\.id)).count == Self.count)
        #expect(tree.tasks.dropFirst().allSatisfy { $0.parentID == "root" && $0.dependencies.first?.id == "root" })
    }

    @Test func cycleClosingA100kChainIsFound() throws {
        var items = [TaskSubmission(name: "n0", dependencies: [.name("n\(Self.count - 1)")])]
        for i in 1..<Self.count {
            items.append(TaskSubmission(name: "n\(i)", parentID: "n0", dependencies: [.name("n\(i - 1)")]))
        }
        do {
            _ = try TreeValidator().validate(items, now: Date())
            Issue.record("expected a cycle")
        } catch {
            #expect(error.message == "Circular dependency detected involving task 'n0'")
            #expect(error.field == "tasks[0].dependencies[0]")
        }
    }

    @Test func parentCycleAmongMany() throws {
        var items = [TaskSubmission(name: "root")]
        for i in 1..<Self.count { items.append(TaskSubmission(name: "n\(i)", parentID: i == 1 ? "n\(Self.count - 1)" : "n\(i - 1)")) }
        do {
            _ = try TreeValidator().validate(items, now: Date())
            Issue.record("expected a parent cycle")
        } catch {
            #expect(error.message == "Circular parent relationship detected involving task 'n1'")
        }
    }
}
