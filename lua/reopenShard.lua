--[[
  Reopen a shard's gate after a unit came back to the sale (an order cancelled or expired). Starts a
  new FIFO epoch: buyers turned away before the unit came back stay turned away (their answer was
  final), and the return may go to a later buyer. The epoch list lets an audit judge FIFO within
  each epoch.

  Input:
    KEYS[1] closed      flag  set when the event sold out
    KEYS[2] rejectedAt  int   qseq at the first gate rejection of the current epoch
    KEYS[3] epochs      list  one entry per reopen: "<drained at reopen>:<rejected-at or empty>"
    KEYS[4] drained     int   highest queue position decided

  Output: number of epochs so far
]]
--@include "startEpochAt.lua"

startEpochAt(KEYS[3], KEYS[1], KEYS[2], tonumber(redis.call('GET', KEYS[4]) or '0'))
return redis.call('LLEN', KEYS[3])
