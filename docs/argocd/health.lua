-- ArgoCD health check for the kubepve.io kinds (guests, connections, snapshots, VM sets).
-- The kubepve operator writes kstatus conditions (Ready, Reconciling, Stalled) and
-- status.observedGeneration; this maps them onto ArgoCD's health states. Lua 5.1 (gopher-lua).
local hs = {}

local function find(conditions, kind)
  if conditions == nil then
    return nil
  end
  for _, c in ipairs(conditions) do
    if c.type == kind then
      return c
    end
  end
  return nil
end

local function describe(c, fallback)
  local reason = c.reason or ""
  local message = c.message or ""
  if reason ~= "" and message ~= "" then
    return reason .. ": " .. message
  elseif message ~= "" then
    return message
  elseif reason ~= "" then
    return reason
  end
  return fallback
end

local function is_true(c)
  return c ~= nil and c.status == "True"
end

local metadata = obj.metadata or {}
local deleting = metadata.deletionTimestamp ~= nil
local status = obj.status

if status == nil or status.conditions == nil then
  hs.status = "Progressing"
  if deleting then
    hs.message = "Deleting"
  else
    hs.message = "Waiting for the kubepve operator to report status"
  end
  return hs
end

-- Conditions written for an older spec say nothing about the current one.
if metadata.generation ~= nil and
    (status.observedGeneration == nil or status.observedGeneration < metadata.generation) then
  hs.status = "Progressing"
  hs.message = "Waiting for the kubepve operator to observe generation " .. tostring(metadata.generation)
  return hs
end

local stalled = find(status.conditions, "Stalled")
local ready = find(status.conditions, "Ready")
local reconciling = find(status.conditions, "Reconciling")

-- Stalled: the operator needs the user (a Conflict, a rejected spec, missing credentials, a
-- protected guest that blocks deletion, ...).
if is_true(stalled) then
  hs.status = "Degraded"
  hs.message = describe(stalled, "Stalled")
  return hs
end

if deleting then
  hs.status = "Progressing"
  if is_true(reconciling) then
    hs.message = "Deleting: " .. describe(reconciling, "in progress")
  else
    hs.message = "Deleting"
  end
  return hs
end

if is_true(reconciling) then
  hs.status = "Progressing"
  hs.message = describe(reconciling, "Reconciling")
  return hs
end

-- A ProxmoxVMSet is healthy only with every member Ready (right after `kubectl scale` the
-- generation check above holds it back; this holds it back while members come up).
if obj.kind == "ProxmoxVMSet" and obj.spec ~= nil and obj.spec.replicas ~= nil and
    (status.readyReplicas or 0) < obj.spec.replicas then
  hs.status = "Progressing"
  hs.message = tostring(status.readyReplicas or 0) .. "/" .. tostring(obj.spec.replicas) ..
    " members ready"
  return hs
end

if is_true(ready) then
  hs.status = "Healthy"
  hs.message = describe(ready, "Ready")
  local restart = find(status.conditions, "RestartRequired")
  if is_true(restart) then
    hs.message = hs.message .. "; restart required: " .. describe(restart, "pending changes")
  end
  return hs
end

if status.phase == "Failed" then
  hs.status = "Degraded"
  if ready ~= nil then
    hs.message = describe(ready, "Failed")
  else
    hs.message = "Failed"
  end
  return hs
end

hs.status = "Progressing"
if ready ~= nil then
  hs.message = describe(ready, "Waiting for Ready")
else
  hs.message = "Waiting for Ready"
end
return hs
