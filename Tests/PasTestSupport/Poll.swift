/// Polls `condition` every `intervalMilliseconds` for at most `limitMilliseconds`; returns
/// whether it became true. For waiting on a background thread (the scavenger) that the test
/// does not drive. Sleeps with `Task.sleep`, so it does not hold a thread of the cooperative
/// pool while it waits.
public func poll(
    everyMilliseconds intervalMilliseconds: Int = 10, upTo limitMilliseconds: Int = 2000,
    _ condition: () -> Bool
) async -> Bool {
    var waited = 0
    while true {
        if condition() { return true }
        if waited >= limitMilliseconds { return false }
        try? await Task.sleep(for: .milliseconds(intervalMilliseconds))
        waited += intervalMilliseconds
    }
}
