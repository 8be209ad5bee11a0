import Testing

@Test func placeholderPhotoIO() { #expect(Bool(true)) }
