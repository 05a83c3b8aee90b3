package gaffer

// ReadBuffer is one reader's memory for its reads, reused read after read
// (ReaderInto): the last read's records and the bytes their Data hold.
// A read is bounded (MaxReadBytes), so this is too.
type ReadBuffer struct {
	Recs []Record
	Data []byte
}

// CopyData appends d to b.Data and returns the copy, its capacity its
// length: the next record's data follows it. When b.Data is full a larger
// array takes over, none of the old one copied: the records already read
// keep it.
func (b *ReadBuffer) CopyData(d []byte) []byte {
	if len(b.Data)+len(d) > cap(b.Data) {
		b.Data = make([]byte, 0, max(2*cap(b.Data), len(d)))
	}
	n := len(b.Data)
	b.Data = append(b.Data, d...)
	return b.Data[n:len(b.Data):len(b.Data)]
}
