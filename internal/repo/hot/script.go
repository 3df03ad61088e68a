package hot

import "github.com/redis/go-redis/v9"

// Append modes: what a write may do to a log.
const (
	// modeAppend appends to a log that exists.
	modeAppend = "append"
	// modeCreate appends, starting the log if needed: the batch holds the
	// conversation's first version.
	modeCreate = "create"
	// modeSeed starts the log, unless it exists.
	modeSeed = "seed"
	// modeReplace replaces the log: the batch is the conversation's
	// deletion, after which nothing else matters.
	modeReplace = "replace"
)

// Log headers: a log whose conversation passed MaxBytes is headed
// headerOver; any other starts with headerHeld (the log holds the whole
// conversation: it started with the conversation's first version, a seed
// or its deletion) or headerPartial (it holds records that arrived before
// any of those), then the bytes its entries hold.
const (
	headerOver    = "over"
	headerHeld    = "h"
	headerPartial = "p"
)

// appendScript appends one entry to a conversation's log, atomically.
// KEYS[1] is the log; ARGV: the entry, the mode, the TTL in
// milliseconds, MaxBytes. It returns 1 when the entry was added, 0 when
// it was not needed (a seed of a log that holds the conversation), 2
// when the conversation outgrew the log.
var appendScript = redis.NewScript(`
local key, entry, mode, ttl, max = KEYS[1], ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4])
local size = string.len(entry)
local head = redis.call('LINDEX', key, 0)
local over = function()
  redis.call('DEL', key)
  redis.call('RPUSH', key, 'over')
  redis.call('PEXPIRE', key, ttl)
  return 2
end
if mode == 'replace' then
  redis.call('DEL', key)
  redis.call('RPUSH', key, 'h' .. size, entry)
  redis.call('PEXPIRE', key, ttl)
  return 1
end
if head == 'over' then
  redis.call('PEXPIRE', key, ttl)
  return 2
end
local held = mode ~= 'append'
if head then
  if string.sub(head, 1, 1) == 'h' then
    if mode == 'seed' then
      return 0
    end
    held = true
  end
  size = size + tonumber(string.sub(head, 2))
end
if size > max then
  return over()
end
local header = (held and 'h' or 'p') .. size
if head then
  redis.call('LSET', key, 0, header)
  redis.call('RPUSH', key, entry)
else
  redis.call('RPUSH', key, header, entry)
end
redis.call('PEXPIRE', key, ttl)
return 1
`)
