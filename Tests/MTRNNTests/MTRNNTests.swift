import Testing

@Test func placeholderMTRNN() { #expect(Bool(true)) }
