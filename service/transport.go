package service

import (
	"fmt"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/redis/go-redis/v9"

	"github.com/techradar/techradar/adapters/transport"
	"github.com/techradar/techradar/config"
)

// The transports' settings, from the configuration.

// redisOptions are the connection settings of every Redis client: each
// Watermill publisher and subscriber closes the client it is given, so each
// gets its own, built from these.
func redisOptions(cfg config.RedisConfig) *redis.Options {
	return &redis.Options{
		Addr:     cfg.Addr,
		Password: cfg.Password,
		DB:       cfg.DB,
		// Short timeouts: a Redis that hangs must not hang the reads that fall
		// back to the store.
		DialTimeout:  2 * time.Second,
		ReadTimeout:  time.Second,
		WriteTimeout: time.Second,
	}
}

// openSQLTransport gives the transport a pool of its own, sized like the
// store's: each subscriber holds one connection for a whole batch.
func openSQLTransport(cfg config.Config, logger watermill.LoggerAdapter) (transport.Transport, error) {
	return transport.NewSQL(cfg.MySQL.DSN, cfg.MySQL.Pool(), cfg.SQLTransport, logger)
}

// NewTransport opens the transport cfg names. The service uses it, and so do
// the commands and tests that publish on the service's topics from outside.
func NewTransport(cfg config.Config, logger watermill.LoggerAdapter) (transport.Transport, error) {
	switch cfg.Transport {
	case config.TransportGoChannel:
		return transport.NewGoChannel(cfg.GoChannel, logger)
	case config.TransportRedisStream:
		return transport.NewRedisStream(redisOptions(cfg.Redis), cfg.RedisStream, logger)
	case config.TransportKafka:
		return transport.NewKafka(cfg.Kafka, logger)
	case config.TransportSQL:
		return openSQLTransport(cfg, logger)
	default:
		return nil, fmt.Errorf("TRANSPORT: %q is not available in this build", cfg.Transport)
	}
}

// newCommandPublisher joins the commands that concurrent requests send into
// one publish per topic on Redis Streams, whose publisher sends the messages
// of a publish in one pipeline of XADDs, and on SQL, whose publisher writes
// them in one transaction, to the partition the process publishes the topic
// to at that moment.
// Elsewhere it is nil and commands go to the transport's publisher: a
// GoChannel publish waits for the handler of its message, and the Kafka
// client already sends the messages published concurrently together.
func newCommandPublisher(cfg config.Config, t transport.Transport) (*transport.BatchingPublisher, error) {
	if cfg.Transport != config.TransportRedisStream && cfg.Transport != config.TransportSQL {
		return nil, nil
	}
	return transport.NewBatchingPublisher(t.Publisher(), transport.BatchingPublisherConfig{})
}

// commandsPublisher is what the command bus and the resender send with.
func (s *Service) commandsPublisher() message.Publisher {
	if s.commandPublisher != nil {
		return s.commandPublisher
	}
	return s.transport.Publisher()
}
