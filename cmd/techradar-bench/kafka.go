package main

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
)

// The in-memory Kafka (kfake) runs as a process of its own, a child of the
// bench, so that its CPU is counted with the servers' and not hidden in the
// load generator's.

// serveKafka runs a one-broker kfake, prints its address on a line of its
// own and serves until SIGTERM or SIGINT.
func serveKafka() error {
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.AllowAutoTopicCreation())
	if err != nil {
		return err
	}
	defer cluster.Close()
	signals := make(chan os.Signal, 1)
	signal.Notify(signals, syscall.SIGTERM, syscall.SIGINT)
	fmt.Println(strings.Join(cluster.ListenAddrs(), ","))
	<-signals
	return nil
}

// kafkaProcess is a running kfake child.
type kafkaProcess struct {
	*process
	brokers string
}

// startKafka runs this binary as the in-memory Kafka and waits for its
// address.
func (b *bench) startKafka() (*kafkaProcess, error) {
	cmd := exec.Command(os.Args[0], "-serve-kafka")
	cmd.Stderr = b.log
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	k := &kafkaProcess{process: &process{cmd: cmd}}
	addr := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(stdout).ReadString('\n')
		addr <- strings.TrimSpace(line)
	}()
	select {
	case k.brokers = <-addr:
	case <-time.After(30 * time.Second):
	}
	if k.brokers == "" {
		k.stop()
		return nil, fmt.Errorf("the in-memory Kafka did not start")
	}
	return k, nil
}
