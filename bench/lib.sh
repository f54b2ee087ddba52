# shellcheck shell=bash disable=SC2034  # variables are set for the scripts that source this file
# bench/lib.sh - shared helpers for the bash benchmarks (source it, do not run it).
#
#   timing   : run_timed, row_* (one table row = one tool/config, possibly many commands)
#   sizes    : file_apparent, file_allocated, dir_usage, mb
#   ssh      : ssh_client_init, sshd_start, sshd_stop (throwaway OpenSSH servers, optionally
#              inside a network namespace), all keys and known_hosts under a directory of ours
#   counters : wire_counter_start/read/stop (nftables byte counters on one TCP port)
#
# Nothing here touches ~/.ssh, the system sshd or the host's firewall rules: every file lives in
# a directory the caller gives, and the nftables table is our own (nitrobench_*), deleted on stop.

NITRO_ROOT=${NITRO_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
NITRO_JS="$NITRO_ROOT/bin/nitro.js"

log() { printf '[%(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
die() {
  log "ERROR: $*"
  exit 1
}
need() { for t in "$@"; do command -v "$t" >/dev/null || die "missing $t (apt-get install -y $t)"; done; }

nitro() { "$NITRO_JS" "$@"; }

# ---------- sizes ----------------------------------------------------------------------------
file_apparent() { local s=0 f; for f in "$@"; do s=$((s + $(stat -c %s "$f"))); done; echo $s; }
file_allocated() { local s=0 f; for f in "$@"; do s=$((s + $(stat -c '%b*%B' "$f"))); done; echo $s; }
# disk usage of a directory in bytes (allocated blocks, what the store really costs)
dir_usage() { du -s --block-size=1 "$1" 2>/dev/null | cut -f1; }
# bytes -> MB (10^6) with one decimal; "n/a" passes through
mb() { [[ $1 =~ ^[0-9]+$ ]] && awk -v b="$1" 'BEGIN{printf "%.1f", b/1e6}' || echo "$1"; }
# bytes / seconds -> MB/s
mbps() { [[ $1 =~ ^[0-9]+$ && $2 =~ ^[0-9.]+$ ]] && awk -v b="$1" -v s="$2" 'BEGIN{ if (s>0) printf "%.0f", b/1e6/s; else print "inf"}' || echo n/a; }
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN{printf "%.2f", b-a}'; }

# ---------- timing ---------------------------------------------------------------------------
# A "row" accumulates several commands (e.g. one `nitro add` per image): wall seconds,
# user+sys CPU seconds, peak RSS (max over the commands) and failure.
#   row_begin; run_timed LOG cmd...; run_timed LOG cmd...; row_end  -> ROW_SECS ROW_CPU ROW_RSS_MB ROW_OK
# Files to read back into the page cache before each row (set by the script that times them).
WARM_INPUTS=()
row_begin() {
  # Untimed: the inputs are read back into the page cache (borg drops them from it with
  # POSIX_FADV_DONTNEED as it reads), and the previous row's dirty pages are written back now
  # instead of being charged to this row.
  ((${#WARM_INPUTS[@]})) && cat "${WARM_INPUTS[@]}" >/dev/null
  sync
  ROW_T0=$(now)
  ROW_CPU=0
  ROW_RSS_KB=0
  ROW_OK=1
}
# run_timed LOGFILE cmd... : runs cmd with stdout+stderr appended to LOGFILE, under /usr/bin/time
run_timed() {
  local logf=$1 tf rc u s m
  shift
  tf=$(mktemp)
  echo "+ $*" >>"$logf"
  /usr/bin/time -f '%U %S %M' -o "$tf" "$@" >>"$logf" 2>&1
  rc=$?
  if read -r u s m < <(tail -1 "$tf") && [[ $m =~ ^[0-9]+$ ]]; then
    ROW_CPU=$(awk -v a="$ROW_CPU" -v b="$u" -v c="$s" 'BEGIN{printf "%.2f", a+b+c}')
    ((m > ROW_RSS_KB)) && ROW_RSS_KB=$m
  fi
  rm -f "$tf"
  if ((rc != 0)); then
    ROW_OK=0
    echo "! exit $rc: $*" >>"$logf"
  fi
  return $rc
}
# same, but for a shell pipeline given as one string (RSS is the max of the shell's children)
run_timed_sh() {
  local logf=$1
  shift
  run_timed "$logf" bash -o pipefail -c "$1"
}
row_end() {
  ROW_SECS=$(elapsed "$ROW_T0" "$(now)")
  ROW_RSS_MB=$(awk -v k="$ROW_RSS_KB" 'BEGIN{printf "%.0f", k/1024}')
  if ((ROW_OK == 0)); then
    ROW_SECS=n/a
    ROW_CPU=n/a
    ROW_RSS_MB=n/a
  fi
}

# ---------- ssh ------------------------------------------------------------------------------
# ssh_client_init CDIR: a client identity + known_hosts + ssh_config under CDIR, and CDIR/home
# usable as $HOME for programs that read ~/.ssh (nitro's ssh2 client). OpenSSH's own client
# ignores $HOME, so call it as `ssh -F CDIR/ssh_config ALIAS`.
ssh_client_init() {
  local c=$1
  mkdir -p "$c/home/.ssh"
  chmod 700 "$c" "$c/home/.ssh"
  [ -f "$c/id_ed25519" ] || ssh-keygen -q -t ed25519 -N '' -C nitro-bench-client -f "$c/id_ed25519"
  : >"$c/known_hosts"
  cat >"$c/ssh_config" <<EOF
# written by bench/lib.sh; per-server "Host ALIAS" blocks are appended by sshd_start
Host *
  User root
  IdentityFile $c/id_ed25519
  IdentitiesOnly yes
  UserKnownHostsFile $c/known_hosts
  GlobalKnownHostsFile /dev/null
  Ciphers aes128-gcm@openssh.com,chacha20-poly1305@openssh.com
  StrictHostKeyChecking yes
  BatchMode yes
  ControlMaster no
  ControlPath none
  LogLevel ERROR
EOF
  ln -sf "$c/id_ed25519" "$c/home/.ssh/id_ed25519"
  ln -sf "$c/id_ed25519.pub" "$c/home/.ssh/id_ed25519.pub"
  ln -sf "$c/known_hosts" "$c/home/.ssh/known_hosts"
  ln -sf "$c/ssh_config" "$c/home/.ssh/config"
}

# a free TCP port on 127.0.0.1 (race-free enough for a benchmark)
free_port() {
  local p
  for _ in $(seq 1 50); do
    p=$((20000 + RANDOM % 30000))
    ss -Hltn "sport = :$p" | grep -q . || {
      echo $p
      return 0
    }
  done
  return 1
}

# sshd_start SDIR CDIR ALIAS ADDR PORT [NETNS]
# Starts an OpenSSH sshd (own host key, config, authorized_keys, PidFile) listening on ADDR:PORT
# (inside NETNS when given), registers its host key in CDIR/known_hosts and a "Host ALIAS" block in
# CDIR/ssh_config, and waits until a real login works. Sessions get a PATH whose first entry holds
# a `nitro` wrapper for this checkout, so `nitro serve --stdio` works on the far side, and an empty
# HOME (SDIR/home): the login shell then skips the host's ~/.bashrc, which costs ~1.3 s per session
# on this machine (pyenv init) and would be charged to every tool.
sshd_start() {
  local s=$1 c=$2 alias=$3 addr=$4 port=$5 ns=${6:-} sftp kh_host
  local -a pre=()
  [ -n "$ns" ] && pre=(ip netns exec "$ns")
  mkdir -p "$s/bin" "$s/home" /run/sshd
  chmod 755 /run/sshd
  [ -f "$s/ssh_host_ed25519_key" ] || ssh-keygen -q -t ed25519 -N '' -C "nitro-bench-$alias" -f "$s/ssh_host_ed25519_key"
  cp "$c/id_ed25519.pub" "$s/authorized_keys"
  # the far side's nitro, timed: bench scripts read SDIR/remote-time.log (wall user sys maxrss_kb).
  # Run as a program, as an installed nitro is: its #! line's node options apply.
  printf '#!/bin/sh\nexec /usr/bin/time -a -o %q -f "%%e %%U %%S %%M" %q "$@"\n' \
    "$s/remote-time.log" "$NITRO_JS" >"$s/bin/nitro"
  chmod 755 "$s/bin/nitro"
  sftp=/usr/lib/openssh/sftp-server
  [ -x $sftp ] || sftp=internal-sftp
  cat >"$s/sshd_config" <<EOF
# written by bench/lib.sh
ListenAddress $addr
Port $port
HostKey $s/ssh_host_ed25519_key
PidFile $s/sshd.pid
AuthorizedKeysFile $s/authorized_keys
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
MaxStartups 200
MaxSessions 200
UseDNS no
PrintMotd no
PrintLastLog no
X11Forwarding no
LogLevel ERROR
Subsystem sftp $sftp
SetEnv PATH=$s/bin:/usr/local/bin:/usr/bin:/bin HOME=$s/home
EOF
  "${pre[@]}" /usr/sbin/sshd -f "$s/sshd_config" -E "$s/sshd.log" || {
    log "sshd failed to start, see $s/sshd.log"
    return 1
  }
  if [ "$port" = 22 ]; then kh_host=$addr; else kh_host="[$addr]:$port"; fi
  echo "$kh_host $(cut -d' ' -f1,2 "$s/ssh_host_ed25519_key.pub")" >>"$c/known_hosts"
  printf 'Host %s\n  HostName %s\n  Port %s\n' "$alias" "$addr" "$port" >>"$c/ssh_config"
  for _ in $(seq 1 50); do
    "${pre[@]}" ssh -F "$c/ssh_config" "$alias" true 2>/dev/null && return 0
    sleep 0.1
  done
  log "sshd $alias ($addr:$port${ns:+ in $ns}) does not accept logins, see $s/sshd.log"
  return 1
}

sshd_stop() {
  local s=$1 pid
  [ -f "$s/sshd.pid" ] || return 0
  pid=$(cat "$s/sshd.pid")
  kill "$pid" 2>/dev/null
  for _ in $(seq 1 30); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  rm -f "$s/sshd.pid"
}

# ---------- bytes on the wire ----------------------------------------------------------------
# nftables counters on TCP PORT, both directions, in a table of our own. Counts IP packet bytes
# (payload + TCP/IP headers), i.e. what the link carries. Falls back to /proc/net/dev of lo
# (all loopback traffic, both directions summed) when nft is unavailable.
# Sets WIRE_METHOD. wire_counter_read prints "TO_SERVER FROM_SERVER" (or "LO_TOTAL n/a").
wire_counter_start() {
  WIRE_PORT=$1
  WIRE_TABLE=nitrobench_$1
  if command -v nft >/dev/null && nft -f - 2>/dev/null <<EOF; then
table inet $WIRE_TABLE {
  chain out {
    type filter hook output priority 0; policy accept;
    tcp dport $WIRE_PORT counter comment "to_server"
    tcp sport $WIRE_PORT counter comment "from_server"
  }
}
EOF
    WIRE_METHOD="nftables counter on tcp port $WIRE_PORT (IP bytes, output hook)"
  else
    WIRE_TABLE=
    WIRE_METHOD="/proc/net/dev lo tx delta (all loopback traffic)"
  fi
}
wire_counter_read() {
  if [ -n "$WIRE_TABLE" ]; then
    nft -j list table inet "$WIRE_TABLE" | jq -r '
      [.nftables[] | .rule? | select(.) | {c: .comment, b: (.expr[] | .counter? | select(.) | .bytes)}]
      | (map(select(.c=="to_server"))[0].b|tostring) + " " + (map(select(.c=="from_server"))[0].b|tostring)'
  else
    echo "$(awk '$1=="lo:"{print $10}' /proc/net/dev) n/a"
  fi
}
wire_counter_stop() { [ -n "${WIRE_TABLE:-}" ] && nft delete table inet "$WIRE_TABLE" 2>/dev/null; true; }

# ---------- datasets -------------------------------------------------------------------------
# gen_synthetic FILE [SIZE_MIB]: a sparse test image with partial redundancy, deterministic
# (AES-CTR keystream): random and text-like regions, a hole, a byte-shifted copy (defeats fixed
# chunking, not CDC), an exact copy, new data.
gen_synthetic() {
  local f=$1 total=${2:-2048} seg
  [ -f "$f" ] && [ "$(stat -c %s "$f")" = $((total << 20)) ] && return 0
  need openssl
  seg=$((total / 8)) # MiB per segment
  local tmp=$f.tmp
  rnd() { openssl enc -aes-128-ctr -nosalt -pass "pass:$1" -pbkdf2 </dev/zero 2>/dev/null | head -c $(($2 << 20)); }
  txt() { rnd "$1" $(($2 * 3 / 4)) | base64 -w 76 | head -c $(($2 << 20)); }
  {
    rnd a $seg
    txt b $seg
  } >"$f.A"
  {
    cat "$f.A"                                      # A: random + text        (2 seg)
    head -c $((seg << 20)) /dev/zero                # zeros, made a hole below (1 seg)
    head -c $((seg << 20)) "$f.A"                   # A shifted: 1st half,
    printf 'x'                                      #   one inserted byte,
    tail -c +$(((seg << 20) + 1)) "$f.A"            #   rest                    (2 seg + 1 B)
    rnd c $seg                                      # new random                (1 seg)
    head -c $(((seg << 20) - 1)) "$f.A"             # exact copy of A's start, realigned
  } >"$tmp"
  truncate -s $((total << 20)) "$tmp"
  fallocate --dig-holes "$tmp" 2>/dev/null || true
  rm -f "$f.A"
  mv "$tmp" "$f"
}
