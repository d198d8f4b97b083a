#!/usr/bin/env bash
# Debian packages the live tests (tests/live) drive: a network namespace (iproute2),
# ethtool for the namespace's lo, tcpdump, curl, openssl and nginx (TLS), Dovecot (POP3, IMAP),
# vsftpd (FTP), c-icap (ICAP), uhub (ADC hub), tshark (independent decoding checks), ngircd (IRC), prosody (XMPP),
# aria2 and transmission-cli (BitTorrent), ncdc (a Direct Connect client).
# Installs only what is missing, quietly, and only as root with apt-get; does nothing
# otherwise. Safe to run or to source (it defines and calls one function, never exits).
ci_install_mail_packages() {
  local wanted=(iproute2 ethtool tcpdump curl openssl nginx dovecot-core dovecot-pop3d dovecot-imapd vsftpd nghttp2-server nghttp2-client nghttp2-proxy dante-server c-icap uhub ngircd prosody aria2 transmission-cli ncdc tshark)
  local missing=() package
  [ "$(id -u)" = 0 ] || return 0
  command -v apt-get >/dev/null 2>&1 || return 0
  for package in "${wanted[@]}"; do
    if [ "$(dpkg-query -W -f='${Status}' "$package" 2>/dev/null)" != "install ok installed" ]; then
      missing+=("$package")
    fi
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  echo "== apt-get install ${missing[*]}"
  # The tests start their own servers: keep the packages' services from starting (and
  # failing) during installation, as container builds do.
  local policy=/usr/sbin/policy-rc.d made_policy=0 status=0
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod +x "$policy" && made_policy=1
  fi
  apt-get update -qq >/dev/null || status=1
  if [ "$status" = 0 ]; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold \
      "${missing[@]}" >/dev/null || status=1
  fi
  [ "$made_policy" = 1 ] && rm -f "$policy"
  return "$status"
}
ci_install_mail_packages
