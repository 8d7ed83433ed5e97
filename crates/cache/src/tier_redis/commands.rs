//! [`Store`] for Redis: each verb of the protocol as the Redis commands that carry it out.
//!
//! The steps that must not interleave with another instance's (a bump and its announcement, the
//! check for a new server run and the reset it may cause) are short Lua scripts, so they are
//! atomic and cost one round trip. The keys of one script always share a cluster hash slot
//! (the namespace in braces, as the generations name their keys).

use std::time::{Duration, Instant};

use futures_util::StreamExt;
use futures_util::stream::BoxStream;

use super::RedisTier;
use crate::store::{Answer, Bookkeeping, Store};

/// INCR each counter key (all but the last key), then announce the change on the channel:
/// `"#{sequence}"`, then `"{generation} {tag}"` lines. The last key is the namespace's change
/// sequence, numbered so that a subscriber can tell when it missed an announcement.
const BUMP_SCRIPT: &str = r"
local n = #KEYS - 1
local out, msg = {}, {}
msg[1] = '#' .. redis.call('INCR', KEYS[#KEYS])
for i = 1, n do
  out[i] = redis.call('INCR', KEYS[i])
  msg[i + 1] = string.format('%d ', out[i]) .. ARGV[i + 1]
end
redis.call('PUBLISH', ARGV[1], table.concat(msg, '\n'))
return out
";

/// Halve every score of KEYS[1] when the gate KEYS[2] (set for ARGV[2] ms at each halving)
/// has expired, then ZINCRBY each (ARGV[4 + 2i], ARGV[3 + 2i]) into it and keep its ARGV[1]
/// highest.
const HEAT_SCRIPT: &str = r"
if redis.call('SET', KEYS[2], 1, 'NX', 'PX', ARGV[2]) and redis.call('EXISTS', KEYS[1]) == 1 then
  redis.call('ZUNIONSTORE', KEYS[1], 1, KEYS[1], 'WEIGHTS', 0.5)
end
for i = 3, #ARGV, 2 do
  redis.call('ZINCRBY', KEYS[1], ARGV[i], ARGV[i + 1])
end
redis.call('ZREMRANGEBYRANK', KEYS[1], 0, -(tonumber(ARGV[1]) + 1))
return 1
";

/// Score ARGV[1] with the use ARGV[3] in the index KEYS[1] (kept ARGV[4] s), then pop and
/// return the oldest members beyond ARGV[2].
const OWN_SCRIPT: &str = r"
redis.call('ZADD', KEYS[1], ARGV[3], ARGV[1])
redis.call('EXPIRE', KEYS[1], ARGV[4])
local over = redis.call('ZCARD', KEYS[1]) - tonumber(ARGV[2])
if over <= 0 then
  return {}
end
local dropped = redis.call('ZRANGE', KEYS[1], 0, over - 1)
redis.call('ZREMRANGEBYRANK', KEYS[1], 0, over - 1)
return dropped
";

/// Hold KEYS[1] for the holder ARGV[1] for ARGV[2] ms: take it when free, extend it when this
/// holder has it; 1 when the holder has it now.
const HOLD_SCRIPT: &str = r"
local holder = redis.call('GET', KEYS[1])
if holder == false then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
elseif holder == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0
";

/// Announce that the entries under ARGV[2..] were deleted: `"#{sequence}"`, then `"D {key}"`
/// lines. KEYS[1] is the change sequence.
const DELETED_SCRIPT: &str = r"
local msg = { '#' .. redis.call('INCR', KEYS[1]) }
for i = 2, #ARGV do
  msg[i] = 'D ' .. ARGV[i]
end
redis.call('PUBLISH', ARGV[1], table.concat(msg, '\n'))
return 1
";

/// Announce the current change sequence (`"={sequence}"`).
const HEARTBEAT_SCRIPT: &str = r"
local s = redis.call('GET', KEYS[1]) or '0'
redis.call('PUBLISH', ARGV[1], '=' .. s)
return 1
";

/// KEYS: the run-id marker, the global generation, the change sequence; ARGV: the floor, the
/// channel. Returns 0 when the marker already names this server run, else the new global
/// generation: the larger of the floor and the current value plus one, so it never moves
/// backwards, set in the same atomic step as the marker.
const RESTART_SCRIPT: &str = r"
local info = redis.call('INFO', 'server')
local run_id = string.match(info, 'run_id:(%w+)') or ''
if redis.call('GET', KEYS[1]) == run_id then
  return 0
end
local current = tonumber(redis.call('GET', KEYS[2]) or '0') or 0
local unique = math.max(current + 1, tonumber(ARGV[1]))
local generation = string.format('%d', unique)
redis.call('SET', KEYS[2], generation)
redis.call('SET', KEYS[1], run_id)
local seq = redis.call('INCR', KEYS[3])
redis.call('PUBLISH', ARGV[2], '#' .. seq .. '\n' .. generation .. ' *')
return unique
";

impl Store for RedisTier {
    fn is_available(&self) -> bool {
        RedisTier::is_available(self)
    }

    fn epoch(&self) -> u64 {
        RedisTier::epoch(self)
    }

    fn trips(&self) -> u64 {
        RedisTier::trips(self)
    }

    fn current_timeout(&self) -> Duration {
        RedisTier::current_timeout(self)
    }

    async fn get_with_counters(&self, key: &str, counters: &[String]) -> Answer<(Option<Vec<u8>>, Vec<u64>)> {
        if self.is_cluster() {
            // The entry and the counters live in different slots: two commands, sent at once.
            let (entry, counts) = tokio::join!(self.get(key), Store::counters(self, counters));
            return Ok((entry?, counts?));
        }
        self.call(|mut c| async move {
            let mut pipe = redis::pipe();
            pipe.cmd("GET").arg(key);
            for k in counters {
                pipe.cmd("GET").arg(k);
            }
            let mut values: Vec<redis::Value> = pipe.query_async(&mut c).await?;
            let counts = values.split_off(1.min(values.len()));
            let entry: Option<Vec<u8>> = match values.pop() {
                Some(v) => redis::from_redis_value(v)?,
                None => None,
            };
            let counts =
                counts.into_iter().map(redis::from_redis_value::<Option<u64>>).collect::<Result<Vec<_>, _>>()?;
            Ok((entry, counts.into_iter().map(Option::unwrap_or_default).collect()))
        })
        .await
    }

    async fn counters(&self, keys: &[String]) -> Answer<Vec<u64>> {
        self.call(|mut c| async move {
            let mut pipe = redis::pipe();
            for k in keys {
                pipe.cmd("GET").arg(k);
            }
            let values: Vec<Option<u64>> = pipe.query_async(&mut c).await?;
            Ok(values.into_iter().map(Option::unwrap_or_default).collect())
        })
        .await
    }

    async fn put(&self, key: &str, value: Vec<u8>, ttl_secs: u64, release: Option<&str>) -> Answer<()> {
        self.call(|mut c| async move {
            let mut pipe = redis::pipe();
            pipe.cmd("SET").arg(key).arg(value).arg("EX").arg(ttl_secs.max(1)).ignore();
            if let Some(lease) = release {
                pipe.cmd("DEL").arg(lease).ignore();
            }
            pipe.query_async::<()>(&mut c).await
        })
        .await
    }

    async fn delete(&self, key: &str) -> Answer<u64> {
        self.call(|mut c| async move { redis::cmd("DEL").arg(key).query_async(&mut c).await }).await
    }

    async fn try_lock(&self, key: &str, ttl: Duration) -> Answer<bool> {
        let ttl_ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1);
        let taken: Option<String> = self
            .call(|mut c| async move {
                redis::cmd("SET").arg(key).arg(1).arg("NX").arg("PX").arg(ttl_ms).query_async(&mut c).await
            })
            .await?;
        Ok(taken.is_some())
    }

    async fn hold(&self, key: &str, holder: &str, ttl: Duration) -> Answer<bool> {
        let ttl_ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1);
        let held: u64 = self
            .call(|mut c| async move {
                redis::cmd("EVAL").arg(HOLD_SCRIPT).arg(1).arg(key).arg(holder).arg(ttl_ms).query_async(&mut c).await
            })
            .await?;
        Ok(held == 1)
    }

    async fn exists(&self, key: &str) -> Answer<bool> {
        let n: u64 = self.call(|mut c| async move { redis::cmd("EXISTS").arg(key).query_async(&mut c).await }).await?;
        Ok(n > 0)
    }

    async fn bump(&self, book: Bookkeeping<'_>, counter_keys: &[String], tags: &[String]) -> Answer<Vec<u64>> {
        self.call(|mut c| async move {
            let mut cmd = redis::cmd("EVAL");
            cmd.arg(BUMP_SCRIPT).arg(counter_keys.len() + 1).arg(counter_keys).arg(book.sequence);
            cmd.arg(book.channel).arg(tags).query_async(&mut c).await
        })
        .await
    }

    async fn announce_deleted(&self, book: Bookkeeping<'_>, keys: &[String]) -> Answer<()> {
        self.call(|mut c| async move {
            let mut cmd = redis::cmd("EVAL");
            cmd.arg(DELETED_SCRIPT).arg(1).arg(book.sequence).arg(book.channel).arg(keys);
            cmd.query_async::<i64>(&mut c).await.map(drop)
        })
        .await
    }

    async fn announce_current(&self, book: Bookkeeping<'_>) -> Answer<()> {
        self.call_unguarded(|mut c| async move {
            let mut cmd = redis::cmd("EVAL");
            cmd.arg(HEARTBEAT_SCRIPT).arg(1).arg(book.sequence).arg(book.channel);
            cmd.query_async::<i64>(&mut c).await.map(drop)
        })
        .await
    }

    async fn adopt_server_run(
        &self,
        book: Bookkeeping<'_>,
        run_key: &str,
        global_key: &str,
        floor: u64,
    ) -> Answer<bool> {
        let set: u64 = self
            .call(|mut c| async move {
                let mut cmd = redis::cmd("EVAL");
                cmd.arg(RESTART_SCRIPT).arg(3).arg(run_key).arg(global_key).arg(book.sequence);
                cmd.arg(floor).arg(book.channel).query_async(&mut c).await
            })
            .await?;
        Ok(set != 0)
    }

    async fn subscribe(&self, channel: &str) -> Answer<BoxStream<'static, String>> {
        let client = self.client().clone();
        let subscribed = async {
            let mut pubsub = client.get_async_pubsub().await?;
            pubsub.subscribe(channel).await?;
            Ok::<_, redis::RedisError>(pubsub)
        };
        let pubsub = tokio::time::timeout(self.inner.config.connect_timeout * 2, subscribed)
            .await
            .map_err(|_| super::TierError::Timeout)?
            .map_err(super::TierError::Redis)?;
        Ok(pubsub.into_on_message().map(|m| m.get_payload::<String>().unwrap_or_default()).boxed())
    }

    async fn eviction_policy(&self) -> Option<String> {
        let answer: Answer<Vec<String>> =
            self.call(|mut c| async move {
                redis::cmd("CONFIG").arg("GET").arg("maxmemory-policy").query_async(&mut c).await
            })
            .await;
        answer.ok()?.into_iter().nth(1)
    }

    async fn server_info(&self, route_key: &str) -> Answer<String> {
        // A script that names the key runs on the node holding it (on a cluster).
        self.call(|mut c| async move {
            redis::cmd("EVAL").arg("return redis.call('INFO')").arg(1).arg(route_key).query_async(&mut c).await
        })
        .await
    }

    async fn add_heat(
        &self,
        key: &str,
        gate: &str,
        increments: &[(String, u64)],
        keep: usize,
        half_life: Duration,
    ) -> Answer<()> {
        let half_life_ms = u64::try_from(half_life.as_millis()).unwrap_or(u64::MAX).max(1);
        self.call(|mut c| async move {
            let mut cmd = redis::cmd("EVAL");
            cmd.arg(HEAT_SCRIPT).arg(2).arg(key).arg(gate).arg(keep).arg(half_life_ms);
            for (member, n) in increments {
                cmd.arg(*n).arg(member);
            }
            cmd.query_async::<i64>(&mut c).await.map(drop)
        })
        .await
    }

    async fn hottest(&self, key: &str, n: usize) -> Answer<Vec<(String, f64)>> {
        if n == 0 {
            return Ok(Vec::new());
        }
        self.call(|mut c| async move {
            redis::cmd("ZREVRANGE").arg(key).arg(0).arg(n - 1).arg("WITHSCORES").query_async(&mut c).await
        })
        .await
    }

    async fn own(&self, index: &str, member: &str, max: usize, used: u64, ttl_secs: u64) -> Answer<Vec<String>> {
        self.call(|mut c| async move {
            let mut cmd = redis::cmd("EVAL");
            cmd.arg(OWN_SCRIPT).arg(1).arg(index).arg(member).arg(max).arg(used).arg(ttl_secs.max(1));
            cmd.query_async(&mut c).await
        })
        .await
    }

    async fn count_keys(&self, pattern: &str, budget: Duration) -> (u64, bool) {
        if self.is_cluster() {
            // A SCAN cursor walks one node; counting a cluster's keys is not worth the trouble.
            return (0, false);
        }
        let deadline = Instant::now() + budget;
        let (mut cursor, mut count) = (0u64, 0u64);
        loop {
            let page: Answer<(u64, Vec<String>)> = self
                .call(|mut c| async move {
                    let mut cmd = redis::cmd("SCAN");
                    cmd.arg(cursor).arg("MATCH").arg(pattern).arg("COUNT").arg(1000);
                    cmd.query_async(&mut c).await
                })
                .await;
            let Ok((next, keys)) = page else { return (count, false) };
            count += keys.len() as u64;
            cursor = next;
            if cursor == 0 {
                return (count, true);
            }
            if Instant::now() >= deadline {
                return (count, false);
            }
        }
    }
}
