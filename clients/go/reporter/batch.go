package reporter

import (
	"google.golang.org/protobuf/proto"

	pb "github.com/statusagg/statusagg/clients/go/statusaggv1"
)

const (
	// fieldOverhead is what a repeated field adds to each item's size: a tag and a length.
	fieldOverhead = 6
	// messageOverhead is what a message adds besides its items: a cluster, flags, framing.
	messageOverhead = 1024
)

// encodedSize is the bytes item takes in a Report or Sync message.
func encodedSize(item *pb.MemberStatus) int {
	return proto.Size(item) + fieldOverhead
}

// Batches splits items into consecutive batches of at most maxItems items and maxBytes
// encoded bytes. An item larger than maxBytes alone goes in a batch of its own.
func Batches(items []*pb.MemberStatus, maxItems, maxBytes int) [][]*pb.MemberStatus {
	var batches [][]*pb.MemberStatus
	start, size := 0, messageOverhead
	for i, item := range items {
		itemSize := encodedSize(item)
		if i > start && (i-start >= maxItems || size+itemSize > maxBytes) {
			batches = append(batches, items[start:i])
			start, size = i, messageOverhead
		}
		size += itemSize
	}
	if start < len(items) {
		batches = append(batches, items[start:])
	}
	return batches
}
