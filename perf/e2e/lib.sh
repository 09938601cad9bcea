# Shared helpers for the end-to-end measurements (sourced, not run).
#
# Everything runs on 127.0.0.1 in a private temp dir; every process started
# here is recorded and stopped by e2e_cleanup (installed as an EXIT trap by
# e2e_init). Postfix runs as a private instance (own config_directory and
# queue_directory) and must be started as root.

E2E_REPO="${E2E_REPO:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
E2E_BUILD="${E2E_BUILD:-$E2E_REPO/build-perf}"
ETRND_BIN="${ETRND_BIN:-$E2E_BUILD/etrnd}"
BLASTER_BIN="${BLASTER_BIN:-$E2E_BUILD/smtp-blaster}"
SMTP_SOURCE="${SMTP_SOURCE:-/usr/sbin/smtp-source}"
SMTP_SINK="${SMTP_SINK:-/usr/sbin/smtp-sink}"

E2E_PIDS=()
E2E_POSTFIX_DIRS=()

e2e_init() {
  E2E_TMP="$(mktemp -d /tmp/etrnd-e2e.XXXXXX)"
  chmod 755 "$E2E_TMP"
  trap e2e_cleanup EXIT
  trap 'exit 130' INT TERM
}

e2e_cleanup() {
  local dir pid
  for dir in "${E2E_POSTFIX_DIRS[@]}"; do
    postfix -c "$dir" stop >/dev/null 2>&1 || true
  done
  for pid in "${E2E_PIDS[@]}"; do
    kill "$pid" 2>/dev/null || true
  done
  for pid in "${E2E_PIDS[@]}"; do
    wait "$pid" 2>/dev/null || true
  done
  # Postfix master exits asynchronously after "stop"; give it a moment.
  for dir in "${E2E_POSTFIX_DIRS[@]}"; do
    local i
    for i in $(seq 50); do
      [ -e "$dir/queue/pid/master.pid" ] || break
      kill -0 "$(tr -d ' ' <"$dir/queue/pid/master.pid")" 2>/dev/null || break
      sleep 0.1
    done
  done
  if [ -n "${E2E_TMP:-}" ] && [ -z "${E2E_KEEP:-}" ]; then rm -rf "$E2E_TMP"; fi
}

# True when something accepts connections on 127.0.0.1:$1 (bash /dev/tcp:
# no interpreter start-up, which costs seconds on a loaded machine).
e2e_port_open() {
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# A TCP port nothing listens on right now, from a range the kernel does not
# hand out as ephemeral ports (32768-60999).
e2e_free_port() {
  local port
  while :; do
    port=$((20000 + RANDOM % 12000))
    e2e_port_open "$port" || { echo "$port"; return; }
  done
}

# Waits until 127.0.0.1:$1 accepts connections (bounded: $2 seconds, default 20).
e2e_wait_port() {
  local port="$1" limit="${2:-20}" i
  for i in $(seq $((limit * 20))); do
    e2e_port_open "$port" && return 0
    sleep 0.05
  done
  echo "port $port not listening after ${limit}s" >&2
  return 1
}

# e2e_smtp_etrn PORT DOMAIN: prints the server's reply line to ETRN DOMAIN.
e2e_smtp_etrn() {
  local port="$1" domain="$2" line
  exec {fd}<>"/dev/tcp/127.0.0.1/$port"
  read -r -t 30 -u "$fd" line                      # greeting
  printf 'EHLO counter.test\r\n' >&"$fd"
  while read -r -t 30 -u "$fd" line; do [[ "$line" == 250\ * ]] && break; done
  printf 'ETRN %s\r\n' "$domain" >&"$fd"
  read -r -t 30 -u "$fd" line
  printf 'QUIT\r\n' >&"$fd"
  exec {fd}>&-
  echo "${line%$'\r'}"
}

# Stops one process we started (SIGTERM, then SIGKILL after 10 s).
e2e_stop_pid() {
  local pid="$1" i
  kill "$pid" 2>/dev/null || return 0
  for i in $(seq 100); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -9 "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}

# e2e_start_etrnd NAME PORT FSYNC DOMAINS_FILE [extra flags...]
# Starts etrnd with its spool in $E2E_TMP/NAME; sets ETRND_PID.
e2e_start_etrnd() {
  local name="$1" port="$2" fsync="$3" domains="$4"
  shift 4
  rm -rf "$E2E_TMP/$name"
  mkdir -p "$E2E_TMP/$name"
  "$ETRND_BIN" --listen="127.0.0.1:$port" --spool_dir="$E2E_TMP/$name/spool" \
    --domains_file="$domains" --fsync="$fsync" --hostname=etrnd.e2e.test \
    --log_level=warning "$@" >"$E2E_TMP/$name/etrnd.log" 2>&1 &
  ETRND_PID=$!
  E2E_PIDS+=("$ETRND_PID")
  e2e_wait_port "$port" 60
}

# e2e_start_sink PORT: Postfix smtp-sink (stores nothing), counting with -c
# into $E2E_TMP/sink-PORT.out; sets SINK_PID.
e2e_start_sink() {
  local port="$1"
  "$SMTP_SINK" -u nobody -c "127.0.0.1:$port" 1024 >"$E2E_TMP/sink-$port.out" 2>&1 &
  SINK_PID=$!
  E2E_PIDS+=("$SINK_PID")
  e2e_wait_port "$port" 20
}

# e2e_postfix_create NAME SMTPD_PORT RELAY_NEXTHOP_PORT
# Writes a private Postfix instance in $E2E_TMP/NAME (config in NAME/conf,
# queue in NAME/queue): relays *.test into the "hold" transport, which is in
# defer_transports, so accepted mail goes straight to the deferred queue and
# waits for ETRN (or postqueue -s) like a `hold` domain in etrnd. ETRN is
# allowed for every *.test domain (fast_flush_domains). Prints the config dir.
e2e_postfix_create() {
  local name="$1" smtpd_port="$2" nexthop_port="$3"
  local base="$E2E_TMP/$name"
  local conf="$base/conf" queue="$base/queue" data="$base/data"
  rm -rf "$base"
  mkdir -p "$conf" "$queue" "$data"
  chown postfix:postfix "$data"
  cat >"$conf/main.cf" <<CF
compatibility_level = 3.6
config_directory = $conf
queue_directory = $queue
data_directory = $data
mail_owner = postfix
setgid_group = postdrop
myhostname = postfix.e2e.test
mydestination =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
relay_domains = test, .test
fast_flush_domains = \$relay_domains
relay_transport = hold:[127.0.0.1]:$nexthop_port
default_transport = hold:[127.0.0.1]:$nexthop_port
defer_transports = hold
smtpd_etrn_restrictions = permit
smtpd_junk_command_limit = 1000000
smtpd_client_connection_count_limit = 0
smtpd_client_connection_rate_limit = 0
smtpd_client_message_rate_limit = 0
smtpd_error_sleep_time = 0
alias_maps =
alias_database =
local_recipient_maps =
biff = no
smtputf8_enable = no
maillog_file_prefixes = /tmp
maillog_file = $base/maillog
smtp_dns_support_level = disabled
disable_dns_lookups = yes
smtpd_peername_lookup = no
CF
  cat >"$conf/master.cf" <<CF
127.0.0.1:$smtpd_port inet n - n - - smtpd
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
smtp      unix  -       -       n       -       -       smtp
hold      unix  -       -       n       -       -       smtp
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
CF
  echo "$conf"
}

# e2e_postfix_start CONF: starts the instance and waits for its smtpd port.
# The first start fixes ownership (set-permissions, slow); later starts use
# Postfix's quick-start marker to skip the equally slow check-warn pass.
e2e_postfix_start() {
  local conf="$1" queue="$1/../queue" port
  if [ ! -e "$conf/../.permissions-set" ]; then
    postfix -c "$conf" set-permissions >"$conf/../set-permissions.log" 2>&1 || true
    touch "$conf/../.permissions-set"
  fi
  touch "$queue/quick-start"
  postfix -c "$conf" start >"$conf/../start.log" 2>&1 || {
    cat "$conf/../start.log" >&2
    return 1
  }
  E2E_POSTFIX_DIRS+=("$conf")
  port="$(awk '/ inet /{split($1,a,":"); print a[2]; exit}' "$conf/master.cf")"
  e2e_wait_port "$port" 60
}

e2e_postfix_stop() {
  local conf="$1" i pidfile="$1/../queue/pid/master.pid"
  postfix -c "$conf" stop >/dev/null 2>&1 || true
  for i in $(seq 200); do
    [ -e "$pidfile" ] || break
    kill -0 "$(tr -d ' ' <"$pidfile")" 2>/dev/null || break
    sleep 0.05
  done
}

# e2e_postfix_empty CONF: (stopped instance) deletes every queued message and
# fast-flush log, so the next start begins with an empty queue.
e2e_postfix_empty() {
  local queue="$1/../queue" d
  for d in incoming active deferred defer bounce trace hold flush maildrop corrupt saved; do
    [ -d "$queue/$d" ] && find "$queue/$d" -type f -delete
  done
  : >"$1/../maillog" 2>/dev/null || true
}

# Messages in the instance's queue (all queue directories), by file count.
e2e_postfix_queued() {
  local queue="$1/../queue"
  find "$queue/incoming" "$queue/active" "$queue/deferred" "$queue/maildrop" \
    -type f 2>/dev/null | wc -l
}

# Median of the numbers given as arguments.
e2e_median() {
  printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {
    if (NR == 0) { print "nan"; exit }
    if (NR % 2) print a[(NR+1)/2]; else printf "%.1f\n", (a[NR/2]+a[NR/2+1])/2 }'
}

e2e_machine_notes() {
  echo "nproc=$(nproc) kernel=$(uname -r) loadavg=$(cut -d' ' -f1-3 /proc/loadavg)"
}
