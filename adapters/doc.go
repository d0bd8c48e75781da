// Package adapters holds one package per dependency techradar speaks to, each
// implementing the interfaces the application declares:
//
//   - sqlstore: SQLite and MySQL, the store of techs, commands, SMS, the outbox
//     and the poison queue;
//   - transport: the Watermill pub/subs (GoChannel, Redis Streams, Kafka, SQL);
//   - cache: the read-model cache, in memory or in Redis;
//   - smsprovider: the SMS providers, over HTTP or a fake in the process.
//
// Each package has a contract suite that runs against all its implementations.
package adapters
