-- Argo CD health of aiconform.io/ConformanceProfile (docs/argocd.md). Lua 5.1, as Argo CD runs it.
-- In order: being deleted or not yet evaluated -> Progressing; Ready=False -> Degraded; Conformant=True ->
-- Healthy; Conformant=False -> Degraded; Conformant=Unknown -> Progressing while the checklist is not
-- evaluated yet (reason NotEvaluated), Degraded once it was and a MUST stays unproven. A conformant profile with a
-- component in state Blocked (a missing prerequisite: status.components.<name>.state) is Degraded, naming it.
local hs = {}

local function condition(conditions, type_)
  if conditions == nil then
    return nil
  end
  for _, c in ipairs(conditions) do
    if c.type == type_ then
      return c
    end
  end
  return nil
end

local function number(value)
  if value == nil then
    return nil
  end
  return tonumber(value)
end

local function text(c, fallback)
  if c ~= nil and c.message ~= nil and c.message ~= "" then
    return c.message
  end
  return fallback
end

if obj.metadata ~= nil and obj.metadata.deletionTimestamp ~= nil then
  hs.status = "Progressing"
  hs.message = "Being deleted: waiting for the aiconform operator to remove its finalizer aiconform.io/cleanup"
  return hs
end

local status = obj.status
local generation = 0
if obj.metadata ~= nil then
  generation = number(obj.metadata.generation) or 0
end
local observed = nil
if status ~= nil then
  observed = number(status.observedGeneration)
end
if status == nil or observed == nil then
  hs.status = "Progressing"
  hs.message = "Waiting for the aiconform operator to evaluate the profile"
  return hs
end
if observed < generation then
  hs.status = "Progressing"
  hs.message = "Waiting for the aiconform operator to evaluate generation " .. generation ..
    " (last evaluated: " .. observed .. ")"
  return hs
end

local ready = condition(status.conditions, "Ready")
local conformant = condition(status.conditions, "Conformant")

if ready ~= nil and ready.status == "False" then
  hs.status = "Degraded"
  local reason = ready.reason or "NotReady"
  hs.message = reason .. ": " .. text(ready, "the operator cannot act on this profile")
  return hs
end
if ready == nil or ready.status ~= "True" or conformant == nil then
  hs.status = "Progressing"
  hs.message = "Waiting for the aiconform operator to report Ready and Conformant"
  return hs
end

local summary = status.summary or {}
local counts = ""
if summary.mustMet ~= nil then
  counts = " (MUSTs met " .. summary.mustMet .. ", SHOULDs met " .. (summary.shouldMet or "?") .. ")"
end

local blocked = {}
if type(status.components) == "table" then
  for name, component in pairs(status.components) do
    if type(component) == "table" and component.state == "Blocked" then
      table.insert(blocked, name .. " (" .. (component.message or "") .. ")")
    end
  end
  table.sort(blocked)
end

if conformant.status == "True" and #blocked > 0 then
  hs.status = "Degraded"
  hs.message = "Conformant" .. counts .. ", but components are blocked: " .. table.concat(blocked, "; ")
  return hs
end
if conformant.status == "True" then
  hs.status = "Healthy"
  hs.message = "Conformant" .. counts .. ": " .. text(conformant, "every MUST requirement is met")
  return hs
end
if conformant.status == "False" then
  hs.status = "Degraded"
  hs.message = "Not conformant" .. counts .. ": " .. text(conformant, "a MUST requirement is not met")
  return hs
end
if conformant.reason == "NotEvaluated" then
  hs.status = "Progressing"
  hs.message = text(conformant, "The checklist is not evaluated yet")
  return hs
end
hs.status = "Degraded"
hs.message = "Conformance not proven" .. counts .. ": " .. text(conformant, "a MUST requirement is unproven") ..
  " (declare what the API cannot show in spec.requirements)"
return hs
