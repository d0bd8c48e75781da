package transport

// KafkaMessageOffset is the partition and offset of a message the Kafka
// subscriber handed over, for the tests of its hand-over.
var KafkaMessageOffset = kafkaMessageOffset
