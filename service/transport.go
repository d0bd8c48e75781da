package service

import (
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/redis/go-redis/v9"

	"github.com/techradar/techradar/adapters"
)

// The transports' settings, from the configuration.

// redisOptions are the connection settings of every Redis client: each
// Watermill publisher and subscriber closes the client it is given, so each
// gets its own, built from these.
func (s *Service) redisOptions() *redis.Options {
	return &redis.Options{
		Addr:     s.cfg.RedisAddr,
		Password: s.cfg.RedisPassword,
		DB:       s.cfg.RedisDB,
		// Short timeouts: a Redis that hangs must not hang the reads that fall
		// back to the store.
		DialTimeout:  2 * time.Second,
		ReadTimeout:  time.Second,
		WriteTimeout: time.Second,
	}
}

func (s *Service) openRedisStreamTransport(logger watermill.LoggerAdapter) (adapters.Transport, error) {
	return adapters.NewRedisStreamTransport(s.redisOptions(), adapters.RedisStreamConfig{
		Consumer:        s.cfg.RedisStreamConsumer,
		MaxLen:          s.cfg.RedisStreamMaxLen,
		BlockTime:       s.cfg.RedisStreamBlockTime,
		ClaimIdle:       s.cfg.RedisStreamClaimIdle,
		ClaimInterval:   s.cfg.RedisStreamClaimInterval,
		NackResendSleep: s.cfg.RedisStreamNackResendSleep,
		Concurrency:     s.cfg.RedisStreamConcurrency,
	}, logger)
}

func (s *Service) openKafkaTransport(logger watermill.LoggerAdapter) (adapters.Transport, error) {
	return adapters.NewKafkaTransport(adapters.KafkaConfig{
		Brokers:            s.cfg.KafkaBrokers,
		ClientID:           s.cfg.KafkaClientID,
		TopicPartitions:    int32(s.cfg.KafkaTopicPartitions),   // Validate bounds it
		ReplicationFactor:  int16(s.cfg.KafkaReplicationFactor), // Validate bounds it
		SessionTimeout:     s.cfg.KafkaSessionTimeout,
		NackResendSleep:    s.cfg.KafkaNackResendSleep,
		DisableIdempotence: !s.cfg.KafkaIdempotent,
	}, logger)
}

// openSQLTransport gives the transport a pool of its own, sized like the
// store's: each subscriber holds one connection for a whole batch.
func (s *Service) openSQLTransport(logger watermill.LoggerAdapter) (adapters.Transport, error) {
	return adapters.NewSQLTransport(s.cfg.MySQLDSN, adapters.MySQLPoolConfig{
		MaxOpenConns:    s.cfg.MySQLMaxOpenConns,
		MaxIdleConns:    s.cfg.MySQLMaxOpenConns,
		ConnMaxLifetime: 5 * time.Minute,
	}, adapters.SQLTransportConfig{
		PollInterval:    s.cfg.SQLTransportPollInterval,
		BatchSize:       s.cfg.SQLTransportBatchSize,
		AckDeadline:     s.cfg.SQLTransportAckDeadline,
		NackResendSleep: s.cfg.SQLTransportNackResendSleep,
	}, logger)
}
