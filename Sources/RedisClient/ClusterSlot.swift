/// Redis Cluster key slots: CRC16 (XMODEM) of the key, or of its `{hash tag}`, modulo 16384.
public enum ClusterSlot {
    /// How many slots a cluster has.
    public static let count = 16384

    /// The slot of a key.
    public static func of(_ key: String) -> Int {
        of(bytes: Array(key.utf8))
    }

    /// The slot of a binary key.
    public static func of(bytes: [UInt8]) -> Int {
        var hashed = bytes[...]
        if let open = bytes.firstIndex(of: UInt8(ascii: "{")),
           let close = bytes[(open + 1)...].firstIndex(of: UInt8(ascii: "}")),
           close > open + 1 {
            hashed = bytes[(open + 1)..<close]
        }
        return Int(crc16(hashed)) & 16383
    }

    /// CRC16-CCITT (XMODEM), the checksum Redis Cluster uses: a byte at a time from a 256-entry
    /// table (a bit at a time through a generic iterator took 7 % of a big submission's CPU).
    public static func crc16<C: Collection>(_ bytes: C) -> UInt16 where C.Element == UInt8 {
        if let crc = bytes.withContiguousStorageIfAvailable({ crc16(buffer: $0) }) { return crc }
        return Array(bytes).withUnsafeBufferPointer { crc16(buffer: $0) }
    }

    /// ``crc16(_:)`` of a string's UTF-8 bytes, without copying them when they are contiguous.
    public static func crc16(utf8 text: String) -> UInt16 {
        var text = text
        return text.withUTF8 { crc16(buffer: $0) }
    }

    private static func crc16(buffer: UnsafeBufferPointer<UInt8>) -> UInt16 {
        var crc: UInt16 = 0
        for byte in buffer {
            crc = (crc << 8) ^ crcTable[Int(UInt8(truncatingIfNeeded: crc >> 8) ^ byte)]
        }
        return crc
    }

    private static let crcTable: [UInt16] = (0..<256).map { index in
        var crc = UInt16(index) << 8
        for _ in 0..<8 { crc = (crc & 0x8000) != 0 ? (crc << 1) ^ 0x1021 : crc << 1 }
        return crc
    }
}
