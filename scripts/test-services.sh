#!/usr/bin/env bash
# Makes sure the MariaDB and Redis that the tests use answer.
#
# The addresses are the tests' own (internal/testenv):
#   TECHRADAR_TEST_MYSQL_DSN   default root@tcp(127.0.0.1:3306)/
#   TECHRADAR_TEST_REDIS_ADDR  default 127.0.0.1:6379
# A server on this machine's standard port is managed: installed from Debian's
# packages when missing, started when stopped, and for MariaDB root is let in
# over TCP without a password. Any other address is only checked.
# It also installs Chromium, the browser the web page test drives
# (TECHRADAR_TEST_CHROMIUM names another one).
#
# When both already answer it takes a fraction of a second. Otherwise it exits
# non-zero with a message saying what failed and how to fix it.
set -euo pipefail

WAIT_SECONDS=${TECHRADAR_SERVICES_WAIT:-60}
MYSQL_DSN="${TECHRADAR_TEST_MYSQL_DSN:-root@tcp(127.0.0.1:3306)/}"
REDIS_ADDR="${TECHRADAR_TEST_REDIS_ADDR:-127.0.0.1:6379}"

# Daemons and start-stop-daemon live in sbin, which a user's PATH may lack.
export PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin"
# apt-get must never stop to ask a question: CI has no standard input.
export DEBIAN_FRONTEND=noninteractive

log() { printf 'test-services: %s\n' "$*" >&2; }

# fail SUMMARY [HINT...]: the reason on one line, then how to fix it.
fail() {
	printf 'test-services: FAILED: %s\n' "$1" >&2
	shift
	local line
	for line in "$@"; do printf '  %s\n' "$line" >&2; done
	exit 1
}

# as_root CMD...: runs CMD as root, through sudo when we are not root. Without
# a terminal sudo must not prompt (it would hang), hence -n.
as_root() {
	if [[ $EUID -eq 0 ]]; then
		"$@"
	elif command -v sudo >/dev/null; then
		if [[ -t 0 ]]; then sudo "$@"; else sudo -n "$@"; fi
	else
		log "need root for: $* (run as root, or install sudo)"
		return 1
	fi
}

# apt_install PACKAGE...: apt's chatter is shown only when it fails.
apt_updated=
apt_install() {
	local out
	command -v apt-get >/dev/null ||
		fail "$* is not installed and this is not a Debian machine (no apt-get)" \
			"Install and start it yourself, or point the TECHRADAR_TEST_* variables at a running server."
	if [[ -z $apt_updated ]]; then
		log "apt-get update"
		out=$(as_root apt-get update -q 2>&1) ||
			fail "apt-get update failed:" "$(tail -n 20 <<<"$out")"
		apt_updated=1
	fi
	log "installing $*"
	out=$(as_root apt-get install -y -q --no-install-recommends "$@" 2>&1) ||
		fail "apt-get install $* failed:" "$(tail -n 20 <<<"$out")" \
			"Run 'apt-get install $*' by hand as root to see more."
}

# split_hostport ADDR DEFAULT_PORT: sets host and port; ADDR may be
# host, host:port or [v6]:port.
split_hostport() {
	local addr=$1
	if [[ $addr =~ ^\[(.*)\]:([0-9]+)$ ]] || [[ $addr =~ ^([^:]*):([0-9]+)$ ]]; then
		host=${BASH_REMATCH[1]} port=${BASH_REMATCH[2]}
	else
		host=${addr#[} host=${host%]} port=$2
	fi
	host=${host:-127.0.0.1}
}

# is_managed HOST PORT STANDARD_PORT LOCAL_HOST...: true for a server on this
# machine's standard port, the only kind this script may install or start.
is_managed() {
	local host=$1 port=$2 standard=$3 h
	shift 3
	[[ $port == "$standard" ]] || return 1
	for h; do [[ $host == "$h" ]] && return 0; done
	return 1
}

# tcp_open HOST PORT: something listens there. The timeout bounds a connect to
# an unreachable remote host.
tcp_open() {
	# shellcheck disable=SC2016 # $0 and $1 belong to the inner shell
	timeout 3 bash -c 'exec 3<>"/dev/tcp/$0/$1"' "$1" "$2" 2>/dev/null
}

# wait_until CMD...: retries CMD for up to WAIT_SECONDS.
wait_until() {
	local deadline=$((SECONDS + WAIT_SECONDS))
	until "$@"; do
		((SECONDS < deadline)) || return 1
		sleep 0.5
	done
}

# ---------------------------------------------------------------- Redis

# redis_ping HOST PORT: speaks RESP over bash's /dev/tcp, so checking a remote
# Redis needs no redis-cli on this machine.
redis_ping() {
	# shellcheck disable=SC2016 # $0 and $1 belong to the inner shell
	timeout 3 bash -c '
		exec 3<>"/dev/tcp/$0/$1" || exit 1
		printf "PING\r\n" >&3
		IFS= read -r -t 2 reply <&3 && [[ $reply == "+PONG"* ]]' "$1" "$2" 2>/dev/null
}

ensure_redis() {
	local host port
	split_hostport "$REDIS_ADDR" 6379
	if redis_ping "$host" "$port"; then
		log "Redis answers at $REDIS_ADDR"
		return
	fi
	if ! is_managed "$host" "$port" 6379 127.0.0.1 localhost ::1; then
		fail "Redis at $REDIS_ADDR (TECHRADAR_TEST_REDIS_ADDR) does not answer PING" \
			"That server is not managed here: start it, or unset TECHRADAR_TEST_REDIS_ADDR to use a local Redis on 127.0.0.1:6379."
	fi

	command -v redis-server >/dev/null || apt_install redis-server
	# The package's own start script may have brought it up already.
	if ! redis_ping "$host" "$port"; then
		log "starting Redis on 127.0.0.1:6379"
		# Kept in memory only: test data need not survive a restart.
		if ! as_root mkdir -p /var/lib/redis /var/log/redis ||
			! as_root redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 \
				--save "" --appendonly no --dir /var/lib/redis --logfile /var/log/redis/ci.log; then
			fail "could not start redis-server" "Run this script as root or with sudo."
		fi
	fi
	wait_until redis_ping "$host" "$port" ||
		fail "Redis did not answer on $REDIS_ADDR within ${WAIT_SECONDS}s" \
			"See /var/log/redis/ci.log. Start it by hand with:" \
			"  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save '' --appendonly no"
	log "Redis answers at $REDIS_ADDR"
}

# -------------------------------------------------------------- MariaDB

mysql_client=
find_mysql_client() {
	mysql_client=$(command -v mariadb || command -v mysql || true)
}

# mysql_login: logs in as the DSN says, over TCP as the Go driver does, and
# creates and drops a database, which is what every test does first. Leaves the
# client's error in login_error. --no-defaults keeps a ~/.my.cnf out of it.
login_error=
mysql_login() {
	local probe="techradar_probe_$$"
	login_error=$(env ${my_pass:+"MYSQL_PWD=$my_pass"} "$mysql_client" --no-defaults \
		--protocol=tcp --host="$my_host" --port="$my_port" --user="$my_user" --connect-timeout=3 \
		-e "CREATE DATABASE IF NOT EXISTS $probe; DROP DATABASE $probe" 2>&1) && return 0
	return 1
}

login_settled() { mysql_login || [[ $login_error == *"Access denied"* ]]; }

# allow_parallel_tests: the test packages run side by side, each with services
# that keep connection pools; the default of 151 connections is within reach.
# Raised for the running server only, when the account may; a failure is no
# reason to stop.
allow_parallel_tests() {
	local my_user my_pass my_proto my_host my_port
	parse_mysql_dsn
	find_mysql_client
	[[ -n $mysql_client ]] || return 0
	env ${my_pass:+"MYSQL_PWD=$my_pass"} "$mysql_client" --no-defaults \
		--protocol=tcp --host="$my_host" --port="$my_port" --user="$my_user" --connect-timeout=3 \
		-e "SET GLOBAL max_connections = GREATEST(@@GLOBAL.max_connections, 1000)" >/dev/null 2>&1 || true
}

# parse_mysql_dsn: the parts of a go-sql-driver DSN,
# [user[:password]@][protocol[(address)]]/[dbname][?params].
parse_mysql_dsn() {
	local re='^(([^:@/]*)(:(.*))?@)?([a-z0-9]*)(\(([^)]*)\))?/'
	[[ $MYSQL_DSN =~ $re ]] ||
		fail "cannot read TECHRADAR_TEST_MYSQL_DSN=$MYSQL_DSN" "Expected user[:password]@tcp(host:port)/"
	my_user=${BASH_REMATCH[2]}
	my_pass=${BASH_REMATCH[4]}
	my_proto=${BASH_REMATCH[5]:-tcp}
	local addr=${BASH_REMATCH[7]:-127.0.0.1:3306}
	[[ $my_proto == tcp* ]] ||
		fail "TECHRADAR_TEST_MYSQL_DSN uses protocol $my_proto; this check speaks TCP only" \
			"Use user@tcp(host:port)/, or run the tests without this script."
	local host port
	split_hostport "$addr" 3306
	my_host=$host my_port=$port
}

# start_mariadb: what a fresh install in a container lacks before mariadbd can
# start: the runtime directory (a tmpfs) and, if the package could not create
# it, the data directory.
start_mariadb() {
	local daemon install_db out
	daemon=$(command -v mariadbd || command -v mysqld) ||
		fail "mariadb-server is installed but no mariadbd binary was found"
	log "starting MariaDB on 127.0.0.1:3306"
	as_root install -d -o mysql -g mysql /run/mysqld ||
		fail "cannot create /run/mysqld for MariaDB" "Run this script as root or with sudo."
	# The error log's directory must exist or mariadbd exits at once.
	[[ -d /var/log/mysql ]] || as_root install -d -o mysql -g adm /var/log/mysql || true
	if ! as_root test -d /var/lib/mysql/mysql; then
		install_db=$(command -v mariadb-install-db || command -v mysql_install_db) ||
			fail "the MariaDB data directory is empty and mariadb-install-db is missing"
		log "creating the MariaDB data directory"
		out=$(as_root "$install_db" --user=mysql --datadir=/var/lib/mysql --skip-test-db \
			--auth-root-authentication-method=socket 2>&1) ||
			fail "mariadb-install-db failed" "$out"
	fi
	# --user: mariadbd refuses to run as root, and not every my.cnf names a user.
	as_root start-stop-daemon --start --oknodo --background --exec "$daemon" -- --user=mysql ||
		fail "start-stop-daemon could not start $daemon" "Run this script as root or with sudo."
}

# allow_root_over_tcp: Debian's root@localhost logs in through the unix socket
# only, but the tests connect as root over TCP with no password. Through the
# socket (as the OS root) root keeps socket login and gains an empty password,
# for both the 'localhost' account (chosen when the server resolves names) and
# a '127.0.0.1' one (chosen with skip-name-resolve). Changes nothing when the
# login already works, since it is only called after a failed login.
allow_root_over_tcp() {
	log "letting root log in to MariaDB over TCP with an empty password"
	local out
	out=$(as_root "$mysql_client" --protocol=socket --user=root -e "
		ALTER USER 'root'@'localhost' IDENTIFIED VIA unix_socket OR mysql_native_password USING PASSWORD('');
		CREATE USER IF NOT EXISTS 'root'@'127.0.0.1';
		ALTER USER 'root'@'127.0.0.1' IDENTIFIED VIA mysql_native_password USING PASSWORD('');
		GRANT ALL PRIVILEGES ON *.* TO 'root'@'127.0.0.1' WITH GRANT OPTION;
		FLUSH PRIVILEGES;" 2>&1) ||
		fail "root cannot log in to MariaDB over TCP and the socket login to fix it failed: $out" \
			"Give root an empty password, e.g. as the OS root:" \
			"  mariadb -e \"ALTER USER root@localhost IDENTIFIED VIA unix_socket OR mysql_native_password USING PASSWORD('')\"" \
			"or point TECHRADAR_TEST_MYSQL_DSN at an account that may CREATE DATABASE, e.g. user:pass@tcp(127.0.0.1:3306)/"
}

ensure_mariadb() {
	local my_user my_pass my_proto my_host my_port shown
	parse_mysql_dsn
	shown="$my_user@$my_host:$my_port"
	find_mysql_client

	if [[ -n $mysql_client ]] && mysql_login; then
		log "MariaDB answers at $shown"
		return
	fi

	# Debian's MariaDB listens on 127.0.0.1 only, so ::1 is not one it serves.
	if ! is_managed "$my_host" "$my_port" 3306 127.0.0.1 localhost; then
		tcp_open "$my_host" "$my_port" ||
			fail "MariaDB at $my_host:$my_port (TECHRADAR_TEST_MYSQL_DSN) does not answer" \
				"That server is not managed here: start it, or unset TECHRADAR_TEST_MYSQL_DSN to use a local MariaDB on 127.0.0.1:3306."
		if [[ -z $mysql_client ]]; then
			log "MariaDB answers at $my_host:$my_port (no mariadb client here to check the login; the tests will)"
			return
		fi
		fail "cannot log in to MariaDB at $shown and create a database: $login_error" \
			"Fix the account or TECHRADAR_TEST_MYSQL_DSN; the tests need CREATE and DROP DATABASE."
	fi

	if ! command -v mariadbd >/dev/null && ! command -v mysqld >/dev/null; then
		apt_install mariadb-server mariadb-client
	fi
	find_mysql_client
	[[ -n $mysql_client ]] || { apt_install mariadb-client; find_mysql_client; }
	[[ -n $mysql_client ]] || fail "no mariadb or mysql client found after installing mariadb-client"

	# The package's own start script may have brought it up already.
	tcp_open "$my_host" "$my_port" || start_mariadb
	wait_until tcp_open "$my_host" "$my_port" ||
		fail "MariaDB did not answer on $my_host:$my_port within ${WAIT_SECONDS}s" \
			"Its log (/var/log/mysql/error.log) ends with:" \
			"$(as_root tail -n 15 /var/log/mysql/error.log 2>/dev/null | sed 's/^/    /' || true)" \
			"Start it by hand with: start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd -- --user=mysql"
	# An open port is not yet a server taking logins: wait until a login either
	# works or is refused, which no amount of waiting changes.
	wait_until login_settled || true
	if mysql_login; then
		log "MariaDB answers at $shown"
		return
	fi
	if [[ $my_user == root && -z $my_pass && $login_error == *"Access denied"* ]]; then
		allow_root_over_tcp
		if mysql_login; then
			log "MariaDB answers at $shown"
			return
		fi
	fi
	fail "cannot log in to MariaDB at $shown and create a database: $login_error" \
		"The tests connect as $shown (TECHRADAR_TEST_MYSQL_DSN) and need CREATE and DROP DATABASE."
}

# ------------------------------------------------------------- Chromium

# ensure_chromium: the headless browser of service/web_browser_test.go, with a
# font to render the page in (a bare container may have none).
ensure_chromium() {
	if [[ -n ${TECHRADAR_TEST_CHROMIUM:-} ]] || command -v chromium >/dev/null; then
		log "Chromium is installed"
		return
	fi
	apt_install chromium fonts-dejavu-core
	command -v chromium >/dev/null ||
		fail "no chromium binary after installing the Debian package chromium" \
			"Install it by hand with 'apt-get install chromium', or set TECHRADAR_TEST_CHROMIUM to a Chrome or Chromium binary."
	log "Chromium is installed"
}

ensure_redis
ensure_mariadb
allow_parallel_tests
ensure_chromium
