package service

import (
	"fmt"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/redis/go-redis/v9"

	"github.com/techradar/techradar/adapters/transport"
	"github.com/techradar/techradar/config"
	"github.com/techradar/techradar/internal/mysqldb"
)

// The transports' settings, from the configuration.

// redisOptions are the connection settings of every Redis client: each
// Watermill publisher and subscriber closes the client it is given, so each
// gets its own, built from these.
func redisOptions(cfg config.Config) *redis.Options {
	return &redis.Options{
		Addr:     cfg.RedisAddr,
		Password: cfg.RedisPassword,
		DB:       cfg.RedisDB,
		// Short timeouts: a Redis that hangs must not hang the reads that fall
		// back to the store.
		DialTimeout:  2 * time.Second,
		ReadTimeout:  time.Second,
		WriteTimeout: time.Second,
	}
}

func openRedisStreamTransport(cfg config.Config, logger watermill.LoggerAdapter) (transport.Transport, error) {
	return transport.NewRedisStream(redisOptions(cfg), transport.RedisStreamConfig{
		Consumer:        cfg.RedisStreamConsumer,
		MaxLen:          cfg.RedisStreamMaxLen,
		BlockTime:       cfg.RedisStreamBlockTime,
		ClaimIdle:       cfg.RedisStreamClaimIdle,
		ClaimInterval:   cfg.RedisStreamClaimInterval,
		NackResendSleep: cfg.RedisStreamNackResendSleep,
		Concurrency:     cfg.RedisStreamConcurrency,
	}, logger)
}

func openKafkaTransport(cfg config.Config, logger watermill.LoggerAdapter) (transport.Transport, error) {
	return transport.NewKafka(transport.KafkaConfig{
		Brokers:           cfg.KafkaBrokers,
		ClientID:          cfg.KafkaClientID,
		TopicPartitions:   int32(cfg.KafkaTopicPartitions),   // Validate bounds it
		ReplicationFactor: int16(cfg.KafkaReplicationFactor), // Validate bounds it
		SessionTimeout:    cfg.KafkaSessionTimeout,
		NackResendSleep:   cfg.KafkaNackResendSleep,
		Idempotent:        cfg.KafkaIdempotent,
	}, logger)
}

// openSQLTransport gives the transport a pool of its own, sized like the
// store's: each subscriber holds one connection for a whole batch.
func openSQLTransport(cfg config.Config, logger watermill.LoggerAdapter) (transport.Transport, error) {
	return transport.NewSQL(cfg.MySQLDSN, mysqldb.PoolConfig{
		MaxOpenConns:    cfg.MySQLMaxOpenConns,
		MaxIdleConns:    cfg.MySQLMaxOpenConns,
		ConnMaxLifetime: 5 * time.Minute,
	}, transport.SQLConfig{
		PollInterval:    cfg.SQLTransportPollInterval,
		BatchSize:       cfg.SQLTransportBatchSize,
		AckDeadline:     cfg.SQLTransportAckDeadline,
		NackResendSleep: cfg.SQLTransportNackResendSleep,
		Partitions:      cfg.SQLTransportPartitions,
	}, logger)
}

// NewTransport opens the transport cfg names. The service uses it, and so do
// the commands and tests that publish on the service's topics from outside.
func NewTransport(cfg config.Config, logger watermill.LoggerAdapter) (transport.Transport, error) {
	switch cfg.Transport {
	case config.TransportGoChannel:
		return transport.NewGoChannel(logger), nil
	case config.TransportRedisStream:
		return openRedisStreamTransport(cfg, logger)
	case config.TransportKafka:
		return openKafkaTransport(cfg, logger)
	case config.TransportSQL:
		return openSQLTransport(cfg, logger)
	default:
		return nil, fmt.Errorf("TRANSPORT: %q is not available in this build", cfg.Transport)
	}
}
