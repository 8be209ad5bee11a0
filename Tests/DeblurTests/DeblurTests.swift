import Testing

@Test func placeholderDeblur() { #expect(Bool(true)) }
