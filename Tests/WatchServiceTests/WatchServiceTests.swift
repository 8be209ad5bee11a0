import Testing

@Test func placeholderWatchService() { #expect(Bool(true)) }
