# Reads .env for every script and make recipe (sourced: `. scripts/lib/env.sh`, never run).
#
#   env_value NAME [DEFAULT] [FILE]   the value of the last NAME=... line of FILE (default .env),
#                                     or DEFAULT when the file, the line or the value is missing
#
# The file is read, never executed by the shell: a value may hold $, quotes, spaces or `;`
# (Compose reads .env the same literal way for these plain NAME=value lines).
env_value() {
  local value
  value=$(sed -n "s/^$1=//p" "${3:-.env}" 2>/dev/null | tail -n 1)
  printf '%s\n' "${value:-${2:-}}"
}
