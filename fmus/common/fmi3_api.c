/*
 * fmi3_api.c -- the FMI 3.0 API (Co-Simulation and Model Exchange) over model.h.
 * Float64, Int32, Boolean and String variables (scalars and arrays) are supported;
 * every other function of the standard is exported and answers fmi3Error.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fmi3Functions.h"
#include "fmi_common.h"

typedef struct {
    Core core;
    char name[128];
    fmi3LogMessageCallback logger;
    fmi3InstanceEnvironment environment;
    bool logging_on;
    bool early_return_allowed;
} Instance;

static void log_message(Instance *inst, fmi3Status status, const char *category, const char *message) {
    if (inst->logger && (inst->logging_on || status >= fmi3Error)) {
        inst->logger(inst->environment, status, category, message);
    }
}

static fmi3Status fail(Instance *inst, const char *function) {
    char message[400];
    snprintf(message, sizeof message, "%s: %s", function, inst->core.ctx.error);
    log_message(inst, fmi3Error, "logStatusError", message);
    return fmi3Error;
}

static fmi3Status fail_with(Instance *inst, const char *function, const char *reason) {
    model_fail(&inst->core.ctx, "%s", reason);
    return fail(inst, function);
}

static fmi3Status require_mode(Instance *inst, const char *function, int mode) {
    if (inst->core.mode == mode) return fmi3OK;
    return fail_with(inst, function, "illegal call in the current mode");
}

/* ---- common functions ------------------------------------------------------------- */
const char *fmi3GetVersion(void) { return fmi3Version; }

fmi3Status fmi3SetDebugLogging(fmi3Instance instance, fmi3Boolean loggingOn, size_t nCategories,
                               const fmi3String categories[]) {
    (void)nCategories; (void)categories;
    ((Instance *)instance)->logging_on = loggingOn;
    return fmi3OK;
}

static Instance *instantiate(fmi3String instanceName, fmi3String token, bool co_simulation, fmi3Boolean loggingOn,
                             fmi3InstanceEnvironment environment, fmi3LogMessageCallback logMessage) {
    if (!token || strcmp(token, MODEL_TOKEN) != 0) {
        if (logMessage) logMessage(environment, fmi3Error, "logStatusError",
                                   "fmi3Instantiate: instantiation token does not match the model");
        return NULL;
    }
    Instance *inst = calloc(1, sizeof *inst);
    if (!inst) return NULL;
    if (!core_init(&inst->core, co_simulation)) {
        free(inst);
        return NULL;
    }
    snprintf(inst->name, sizeof inst->name, "%s", instanceName ? instanceName : "");
    inst->logger = logMessage;
    inst->environment = environment;
    inst->logging_on = loggingOn;
    return inst;
}

fmi3Instance fmi3InstantiateModelExchange(fmi3String instanceName, fmi3String instantiationToken,
                                          fmi3String resourcePath, fmi3Boolean visible, fmi3Boolean loggingOn,
                                          fmi3InstanceEnvironment instanceEnvironment,
                                          fmi3LogMessageCallback logMessage) {
    (void)resourcePath; (void)visible;
    return instantiate(instanceName, instantiationToken, false, loggingOn, instanceEnvironment, logMessage);
}

fmi3Instance fmi3InstantiateCoSimulation(fmi3String instanceName, fmi3String instantiationToken,
                                         fmi3String resourcePath, fmi3Boolean visible, fmi3Boolean loggingOn,
                                         fmi3Boolean eventModeUsed, fmi3Boolean earlyReturnAllowed,
                                         const fmi3ValueReference requiredIntermediateVariables[],
                                         size_t nRequiredIntermediateVariables,
                                         fmi3InstanceEnvironment instanceEnvironment,
                                         fmi3LogMessageCallback logMessage,
                                         fmi3IntermediateUpdateCallback intermediateUpdate) {
    (void)resourcePath; (void)visible; (void)requiredIntermediateVariables;
    (void)nRequiredIntermediateVariables; (void)intermediateUpdate;
    Instance *inst = instantiate(instanceName, instantiationToken, true, loggingOn, instanceEnvironment, logMessage);
    if (inst) {
        inst->core.event_mode_used = eventModeUsed;
        inst->early_return_allowed = earlyReturnAllowed;
    }
    return inst;
}

fmi3Instance fmi3InstantiateScheduledExecution(fmi3String instanceName, fmi3String instantiationToken,
                                               fmi3String resourcePath, fmi3Boolean visible,
                                               fmi3Boolean loggingOn, fmi3InstanceEnvironment instanceEnvironment,
                                               fmi3LogMessageCallback logMessage,
                                               fmi3ClockUpdateCallback clockUpdate,
                                               fmi3LockPreemptionCallback lockPreemption,
                                               fmi3UnlockPreemptionCallback unlockPreemption) {
    (void)instanceName; (void)instantiationToken; (void)resourcePath; (void)visible; (void)loggingOn;
    (void)clockUpdate; (void)lockPreemption; (void)unlockPreemption;
    if (logMessage) logMessage(instanceEnvironment, fmi3Error, "logStatusError",
                               "Scheduled Execution is not supported");
    return NULL;
}

void fmi3FreeInstance(fmi3Instance instance) {
    Instance *inst = instance;
    if (!inst) return;
    core_free(&inst->core);
    free(inst);
}

fmi3Status fmi3EnterInitializationMode(fmi3Instance instance, fmi3Boolean toleranceDefined, fmi3Float64 tolerance,
                                       fmi3Float64 startTime, fmi3Boolean stopTimeDefined, fmi3Float64 stopTime) {
    (void)toleranceDefined; (void)tolerance; (void)stopTimeDefined; (void)stopTime;
    Instance *inst = instance;
    if (require_mode(inst, "fmi3EnterInitializationMode", MODE_INSTANTIATED) != fmi3OK) return fmi3Error;
    inst->core.ctx.time = startTime;
    inst->core.mode = MODE_INITIALIZATION;
    return fmi3OK;
}

fmi3Status fmi3ExitInitializationMode(fmi3Instance instance) {
    Instance *inst = instance;
    if (require_mode(inst, "fmi3ExitInitializationMode", MODE_INITIALIZATION) != fmi3OK) return fmi3Error;
    if (!model_initialize(inst->core.data, &inst->core.ctx)) {
        inst->core.mode = MODE_ERROR;
        return fail(inst, "fmi3ExitInitializationMode");
    }
    bool step_mode = inst->core.co_simulation && !inst->core.event_mode_used;
    inst->core.mode = step_mode ? MODE_STEP : MODE_EVENT;
    return fmi3OK;
}

fmi3Status fmi3EnterEventMode(fmi3Instance instance) {
    ((Instance *)instance)->core.mode = MODE_EVENT;
    return fmi3OK;
}

fmi3Status fmi3Terminate(fmi3Instance instance) {
    ((Instance *)instance)->core.mode = MODE_TERMINATED;
    return fmi3OK;
}

fmi3Status fmi3Reset(fmi3Instance instance) {
    core_reset(&((Instance *)instance)->core);
    return fmi3OK;
}

/* ---- getting and setting values --------------------------------------------------- */
static fmi3Status count_mismatch(Instance *inst, const char *function, size_t n, size_t expected) {
    model_fail(&inst->core.ctx, "nValues is %zu, the variables hold %zu", n, expected);
    return fail(inst, function);
}

static void copy_out(VarType type, const void *field, void *out, size_t at) {
    switch (type) {
    case VT_FLOAT64: ((fmi3Float64 *)out)[at] = *(const double *)field; break;
    case VT_INT32: ((fmi3Int32 *)out)[at] = *(const int *)field; break;
    case VT_BOOL: ((fmi3Boolean *)out)[at] = *(const bool *)field; break;
    case VT_STRING: ((fmi3String *)out)[at] = (const char *)field; break;
    }
}

static void copy_in(VarType type, void *field, const void *in, size_t at) {
    switch (type) {
    case VT_FLOAT64: *(double *)field = ((const fmi3Float64 *)in)[at]; break;
    case VT_INT32: *(int *)field = ((const fmi3Int32 *)in)[at]; break;
    case VT_BOOL: *(bool *)field = ((const fmi3Boolean *)in)[at]; break;
    case VT_STRING: snprintf((char *)field, MODEL_STRING_CAPACITY, "%s", ((const fmi3String *)in)[at]); break;
    }
}

static size_t element_size(VarType type) {
    switch (type) {
    case VT_FLOAT64: return sizeof(double);
    case VT_INT32: return sizeof(int);
    case VT_BOOL: return sizeof(bool);
    default: return MODEL_STRING_CAPACITY;
    }
}

static fmi3Status access(Instance *inst, const char *function, const fmi3ValueReference vr[], size_t nvr,
                         VarType type, void *values, size_t nValues, bool set) {
    if (!set) core_refresh(&inst->core);
    size_t at = 0;
    for (size_t i = 0; i < nvr; i++) {
        const VarInfo *v = core_variable(&inst->core, vr[i], type);
        if (!v || (set && !core_can_set(&inst->core, v))) return fail(inst, function);
        if (at + v->count > nValues) return count_mismatch(inst, function, nValues, at + v->count);
        char *field = model_field(inst->core.data, v);
        for (size_t k = 0; k < v->count; k++, at++) {
            if (set) copy_in(type, field + k * element_size(type), values, at);
            else copy_out(type, field + k * element_size(type), values, at);
        }
    }
    return at == nValues ? fmi3OK : count_mismatch(inst, function, nValues, at);
}

fmi3Status fmi3GetFloat64(fmi3Instance instance, const fmi3ValueReference vr[], size_t nvr, fmi3Float64 values[],
                          size_t nValues) {
    return access(instance, "fmi3GetFloat64", vr, nvr, VT_FLOAT64, values, nValues, false);
}
fmi3Status fmi3GetInt32(fmi3Instance instance, const fmi3ValueReference vr[], size_t nvr, fmi3Int32 values[],
                        size_t nValues) {
    return access(instance, "fmi3GetInt32", vr, nvr, VT_INT32, values, nValues, false);
}
fmi3Status fmi3GetBoolean(fmi3Instance instance, const fmi3ValueReference vr[], size_t nvr, fmi3Boolean values[],
                          size_t nValues) {
    return access(instance, "fmi3GetBoolean", vr, nvr, VT_BOOL, values, nValues, false);
}
fmi3Status fmi3GetString(fmi3Instance instance, const fmi3ValueReference vr[], size_t nvr, fmi3String values[],
                         size_t nValues) {
    return access(instance, "fmi3GetString", vr, nvr, VT_STRING, values, nValues, false);
}
fmi3Status fmi3SetFloat64(fmi3Instance instance, const fmi3ValueReference vr[], size_t nvr,
                          const fmi3Float64 values[], size_t nValues) {
    return access(instance, "fmi3SetFloat64", vr, nvr, VT_FLOAT64, (void *)values, nValues, true);
}
fmi3Status fmi3SetInt32(fmi3Instance instance, const fmi3ValueReference vr[], size_t nvr, const fmi3Int32 values[],
                        size_t nValues) {
    return access(instance, "fmi3SetInt32", vr, nvr, VT_INT32, (void *)values, nValues, true);
}
fmi3Status fmi3SetBoolean(fmi3Instance instance, const fmi3ValueReference vr[], size_t nvr,
                          const fmi3Boolean values[], size_t nValues) {
    return access(instance, "fmi3SetBoolean", vr, nvr, VT_BOOL, (void *)values, nValues, true);
}
fmi3Status fmi3SetString(fmi3Instance instance, const fmi3ValueReference vr[], size_t nvr,
                         const fmi3String values[], size_t nValues) {
    return access(instance, "fmi3SetString", vr, nvr, VT_STRING, (void *)values, nValues, true);
}

/* Types no model here uses: any access to a variable is an error. */
#define UNUSED_TYPE(NAME, CTYPE, QUAL)                                                                  \
    fmi3Status fmi3Get##NAME(fmi3Instance instance, const fmi3ValueReference vr[], size_t nvr,          \
                             CTYPE values[], size_t nValues) {                                         \
        (void)vr; (void)values; (void)nValues;                                                          \
        return nvr ? fail_with(instance, "fmi3Get" #NAME, "no variable of this type") : fmi3OK;         \
    }                                                                                                   \
    fmi3Status fmi3Set##NAME(fmi3Instance instance, const fmi3ValueReference vr[], size_t nvr,          \
                             QUAL CTYPE values[], size_t nValues) {                                    \
        (void)vr; (void)values; (void)nValues;                                                          \
        return nvr ? fail_with(instance, "fmi3Set" #NAME, "no variable of this type") : fmi3OK;         \
    }

UNUSED_TYPE(Float32, fmi3Float32, const)
UNUSED_TYPE(Int8, fmi3Int8, const)
UNUSED_TYPE(UInt8, fmi3UInt8, const)
UNUSED_TYPE(Int16, fmi3Int16, const)
UNUSED_TYPE(UInt16, fmi3UInt16, const)
UNUSED_TYPE(UInt32, fmi3UInt32, const)
UNUSED_TYPE(Int64, fmi3Int64, const)
UNUSED_TYPE(UInt64, fmi3UInt64, const)

fmi3Status fmi3GetBinary(fmi3Instance instance, const fmi3ValueReference vr[], size_t nvr, size_t valueSizes[],
                         fmi3Binary values[], size_t nValues) {
    (void)vr; (void)valueSizes; (void)values; (void)nValues;
    return nvr ? fail_with(instance, "fmi3GetBinary", "no variable of this type") : fmi3OK;
}
fmi3Status fmi3SetBinary(fmi3Instance instance, const fmi3ValueReference vr[], size_t nvr,
                         const size_t valueSizes[], const fmi3Binary values[], size_t nValues) {
    (void)vr; (void)valueSizes; (void)values; (void)nValues;
    return nvr ? fail_with(instance, "fmi3SetBinary", "no variable of this type") : fmi3OK;
}
fmi3Status fmi3GetClock(fmi3Instance instance, const fmi3ValueReference vr[], size_t nvr, fmi3Clock values[]) {
    Instance *inst = instance;
    for (size_t i = 0; i < nvr; i++) {
        bool active = false;
        if (!model_get_clock(inst->core.data, &inst->core.ctx, vr[i], &active)) return fail(inst, "fmi3GetClock");
        values[i] = active;
    }
    return fmi3OK;
}
fmi3Status fmi3SetClock(fmi3Instance instance, const fmi3ValueReference vr[], size_t nvr,
                        const fmi3Clock values[]) {
    Instance *inst = instance;
    if (inst->core.mode != MODE_EVENT) return fail_with(inst, "fmi3SetClock", "clocks are set in event mode only");
    for (size_t i = 0; i < nvr; i++) {
        if (!model_set_clock(inst->core.data, &inst->core.ctx, vr[i], values[i])) return fail(inst, "fmi3SetClock");
    }
    return fmi3OK;
}

/* ---- dependencies, derivatives, configuration: not provided --------------------------- */
fmi3Status fmi3GetNumberOfVariableDependencies(fmi3Instance instance, fmi3ValueReference valueReference,
                                               size_t *nDependencies) {
    (void)valueReference; (void)nDependencies;
    return fail_with(instance, "fmi3GetNumberOfVariableDependencies", "not provided");
}
fmi3Status fmi3GetVariableDependencies(fmi3Instance instance, fmi3ValueReference dependent,
                                       size_t elementIndicesOfDependent[], fmi3ValueReference independents[],
                                       size_t elementIndicesOfIndependents[],
                                       fmi3DependencyKind dependencyKinds[], size_t nDependencies) {
    (void)dependent; (void)elementIndicesOfDependent; (void)independents; (void)elementIndicesOfIndependents;
    (void)dependencyKinds; (void)nDependencies;
    return fail_with(instance, "fmi3GetVariableDependencies", "not provided");
}
fmi3Status fmi3GetDirectionalDerivative(fmi3Instance instance, const fmi3ValueReference unknowns[],
                                        size_t nUnknowns, const fmi3ValueReference knowns[], size_t nKnowns,
                                        const fmi3Float64 seed[], size_t nSeed, fmi3Float64 sensitivity[],
                                        size_t nSensitivity) {
    (void)unknowns; (void)nUnknowns; (void)knowns; (void)nKnowns; (void)seed; (void)nSeed; (void)sensitivity;
    (void)nSensitivity;
    return fail_with(instance, "fmi3GetDirectionalDerivative", "not provided");
}
fmi3Status fmi3GetAdjointDerivative(fmi3Instance instance, const fmi3ValueReference unknowns[], size_t nUnknowns,
                                    const fmi3ValueReference knowns[], size_t nKnowns, const fmi3Float64 seed[],
                                    size_t nSeed, fmi3Float64 sensitivity[], size_t nSensitivity) {
    (void)unknowns; (void)nUnknowns; (void)knowns; (void)nKnowns; (void)seed; (void)nSeed; (void)sensitivity;
    (void)nSensitivity;
    return fail_with(instance, "fmi3GetAdjointDerivative", "not provided");
}
fmi3Status fmi3EnterConfigurationMode(fmi3Instance instance) {
    return fail_with(instance, "fmi3EnterConfigurationMode", "no structural parameters");
}
fmi3Status fmi3ExitConfigurationMode(fmi3Instance instance) {
    return fail_with(instance, "fmi3ExitConfigurationMode", "no structural parameters");
}
fmi3Status fmi3GetIntervalDecimal(fmi3Instance instance, const fmi3ValueReference vr[], size_t nvr,
                                  fmi3Float64 intervals[], fmi3IntervalQualifier qualifiers[]) {
    Instance *inst = instance;
    for (size_t i = 0; i < nvr; i++) {
        int qualifier = INTERVAL_NOT_YET_KNOWN;
        if (!model_get_interval(inst->core.data, &inst->core.ctx, vr[i], &intervals[i], &qualifier)) {
            return fail(inst, "fmi3GetIntervalDecimal");
        }
        qualifiers[i] = (fmi3IntervalQualifier)qualifier;
    }
    return fmi3OK;
}
fmi3Status fmi3GetIntervalFraction(fmi3Instance instance, const fmi3ValueReference vr[], size_t nvr,
                                   fmi3UInt64 counters[], fmi3UInt64 resolutions[],
                                   fmi3IntervalQualifier qualifiers[]) {
    (void)vr; (void)nvr; (void)counters; (void)resolutions; (void)qualifiers;
    return fail_with(instance, "fmi3GetIntervalFraction", "no clock supports fractions");
}
fmi3Status fmi3GetShiftDecimal(fmi3Instance instance, const fmi3ValueReference vr[], size_t nvr,
                               fmi3Float64 shifts[]) {
    Instance *inst = instance;
    for (size_t i = 0; i < nvr; i++) {
        if (!model_get_shift(inst->core.data, &inst->core.ctx, vr[i], &shifts[i])) {
            return fail(inst, "fmi3GetShiftDecimal");
        }
    }
    return fmi3OK;
}
fmi3Status fmi3GetShiftFraction(fmi3Instance instance, const fmi3ValueReference vr[], size_t nvr,
                                fmi3UInt64 counters[], fmi3UInt64 resolutions[]) {
    (void)vr; (void)nvr; (void)counters; (void)resolutions;
    return fail_with(instance, "fmi3GetShiftFraction", "no clock supports fractions");
}
fmi3Status fmi3SetIntervalDecimal(fmi3Instance instance, const fmi3ValueReference vr[], size_t nvr,
                                  const fmi3Float64 intervals[]) {
    Instance *inst = instance;
    for (size_t i = 0; i < nvr; i++) {
        if (!model_set_interval(inst->core.data, &inst->core.ctx, vr[i], intervals[i])) {
            return fail(inst, "fmi3SetIntervalDecimal");
        }
    }
    return fmi3OK;
}
fmi3Status fmi3SetIntervalFraction(fmi3Instance instance, const fmi3ValueReference vr[], size_t nvr,
                                   const fmi3UInt64 counters[], const fmi3UInt64 resolutions[]) {
    (void)vr; (void)nvr; (void)counters; (void)resolutions;
    return fail_with(instance, "fmi3SetIntervalFraction", "no clock supports fractions");
}
fmi3Status fmi3SetShiftDecimal(fmi3Instance instance, const fmi3ValueReference vr[], size_t nvr,
                               const fmi3Float64 shifts[]) {
    Instance *inst = instance;
    for (size_t i = 0; i < nvr; i++) {
        if (!model_set_shift(inst->core.data, &inst->core.ctx, vr[i], shifts[i])) {
            return fail(inst, "fmi3SetShiftDecimal");
        }
    }
    return fmi3OK;
}
fmi3Status fmi3SetShiftFraction(fmi3Instance instance, const fmi3ValueReference vr[], size_t nvr,
                                const fmi3UInt64 counters[], const fmi3UInt64 resolutions[]) {
    (void)vr; (void)nvr; (void)counters; (void)resolutions;
    return fail_with(instance, "fmi3SetShiftFraction", "no clock supports fractions");
}
fmi3Status fmi3ActivateModelPartition(fmi3Instance instance, fmi3ValueReference clockReference,
                                      fmi3Float64 activationTime) {
    (void)clockReference; (void)activationTime;
    return fail_with(instance, "fmi3ActivateModelPartition", "Scheduled Execution is not supported");
}
fmi3Status fmi3GetOutputDerivatives(fmi3Instance instance, const fmi3ValueReference vr[], size_t nvr,
                                    const fmi3Int32 orders[], fmi3Float64 values[], size_t nValues) {
    (void)vr; (void)nvr; (void)orders; (void)values; (void)nValues;
    return fail_with(instance, "fmi3GetOutputDerivatives", "output derivatives are not provided");
}

/* ---- FMU state -------------------------------------------------------------------- */
fmi3Status fmi3GetFMUState(fmi3Instance instance, fmi3FMUState *FMUState) {
    Instance *inst = instance;
    if (*FMUState) {
        core_snapshot_update(&inst->core, *FMUState);
        return fmi3OK;
    }
    *FMUState = core_snapshot(&inst->core);
    return *FMUState ? fmi3OK : fail_with(inst, "fmi3GetFMUState", "out of memory");
}

fmi3Status fmi3SetFMUState(fmi3Instance instance, fmi3FMUState FMUState) {
    Instance *inst = instance;
    if (!FMUState) return fail_with(inst, "fmi3SetFMUState", "null FMU state");
    return core_restore(&inst->core, FMUState, core_snapshot_size()) ? fmi3OK : fail(inst, "fmi3SetFMUState");
}

fmi3Status fmi3FreeFMUState(fmi3Instance instance, fmi3FMUState *FMUState) {
    (void)instance;
    free(*FMUState);
    *FMUState = NULL;
    return fmi3OK;
}

fmi3Status fmi3SerializedFMUStateSize(fmi3Instance instance, fmi3FMUState FMUState, size_t *size) {
    (void)instance; (void)FMUState;
    *size = core_snapshot_size();
    return fmi3OK;
}

fmi3Status fmi3SerializeFMUState(fmi3Instance instance, fmi3FMUState FMUState, fmi3Byte serializedState[],
                                 size_t size) {
    if (size != core_snapshot_size()) return fail_with(instance, "fmi3SerializeFMUState", "wrong buffer size");
    memcpy(serializedState, FMUState, size);
    return fmi3OK;
}

fmi3Status fmi3DeserializeFMUState(fmi3Instance instance, const fmi3Byte serializedState[], size_t size,
                                   fmi3FMUState *FMUState) {
    Instance *inst = instance;
    Core probe = inst->core;
    void *scratch = malloc(MODEL_DATA_SIZE);
    if (!scratch) return fail_with(inst, "fmi3DeserializeFMUState", "out of memory");
    probe.data = scratch;
    bool ok = core_restore(&probe, serializedState, size);
    free(scratch);
    if (!ok) {
        inst->core.ctx = probe.ctx;
        return fail(inst, "fmi3DeserializeFMUState");
    }
    if (!*FMUState) *FMUState = malloc(size);
    if (!*FMUState) return fail_with(inst, "fmi3DeserializeFMUState", "out of memory");
    memcpy(*FMUState, serializedState, size);
    return fmi3OK;
}

/* ---- events ----------------------------------------------------------------------- */
fmi3Status fmi3EvaluateDiscreteStates(fmi3Instance instance) {
    return fail_with(instance, "fmi3EvaluateDiscreteStates", "not provided");
}

fmi3Status fmi3UpdateDiscreteStates(fmi3Instance instance, fmi3Boolean *discreteStatesNeedUpdate,
                                    fmi3Boolean *terminateSimulation,
                                    fmi3Boolean *nominalsOfContinuousStatesChanged,
                                    fmi3Boolean *valuesOfContinuousStatesChanged,
                                    fmi3Boolean *nextEventTimeDefined, fmi3Float64 *nextEventTime) {
    Instance *inst = instance;
    if (require_mode(inst, "fmi3UpdateDiscreteStates", MODE_EVENT) != fmi3OK) return fmi3Error;
    EventResult r = {0};
    if (!model_event(inst->core.data, &inst->core.ctx, &r)) return fail(inst, "fmi3UpdateDiscreteStates");
    *discreteStatesNeedUpdate = false;
    *terminateSimulation = r.terminate;
    *nominalsOfContinuousStatesChanged = false;
    *valuesOfContinuousStatesChanged = r.states_changed;
    *nextEventTimeDefined = r.next_event_defined;
    *nextEventTime = r.next_event_time;
    return fmi3OK;
}

/* ---- Model Exchange --------------------------------------------------------------- */
fmi3Status fmi3EnterContinuousTimeMode(fmi3Instance instance) {
    ((Instance *)instance)->core.mode = MODE_CONTINUOUS_TIME;
    return fmi3OK;
}

fmi3Status fmi3CompletedIntegratorStep(fmi3Instance instance, fmi3Boolean noSetFMUStatePriorToCurrentPoint,
                                       fmi3Boolean *enterEventMode, fmi3Boolean *terminateSimulation) {
    (void)instance; (void)noSetFMUStatePriorToCurrentPoint;
    *enterEventMode = false;
    *terminateSimulation = false;
    return fmi3OK;
}

fmi3Status fmi3SetTime(fmi3Instance instance, fmi3Float64 time) {
    ((Instance *)instance)->core.ctx.time = time;
    return fmi3OK;
}

static fmi3Status check_count(Instance *inst, const char *function, size_t n, size_t expected) {
    if (n == expected) return fmi3OK;
    model_fail(&inst->core.ctx, "expected %zu values, got %zu", expected, n);
    return fail(inst, function);
}

fmi3Status fmi3SetContinuousStates(fmi3Instance instance, const fmi3Float64 x[], size_t nx) {
    Instance *inst = instance;
    if (check_count(inst, "fmi3SetContinuousStates", nx, MODEL_STATE_COUNT) != fmi3OK) return fmi3Error;
    model_set_states(inst->core.data, x);
    return fmi3OK;
}

fmi3Status fmi3GetContinuousStateDerivatives(fmi3Instance instance, fmi3Float64 derivatives[], size_t nx) {
    Instance *inst = instance;
    if (check_count(inst, "fmi3GetContinuousStateDerivatives", nx, MODEL_STATE_COUNT) != fmi3OK) return fmi3Error;
    model_derivatives(inst->core.data, &inst->core.ctx, derivatives);
    return fmi3OK;
}

fmi3Status fmi3GetEventIndicators(fmi3Instance instance, fmi3Float64 eventIndicators[], size_t ni) {
    Instance *inst = instance;
    if (check_count(inst, "fmi3GetEventIndicators", ni, MODEL_INDICATOR_COUNT) != fmi3OK) return fmi3Error;
    model_indicators(inst->core.data, &inst->core.ctx, eventIndicators);
    return fmi3OK;
}

fmi3Status fmi3GetContinuousStates(fmi3Instance instance, fmi3Float64 x[], size_t nx) {
    Instance *inst = instance;
    if (check_count(inst, "fmi3GetContinuousStates", nx, MODEL_STATE_COUNT) != fmi3OK) return fmi3Error;
    model_get_states(inst->core.data, x);
    return fmi3OK;
}

fmi3Status fmi3GetNominalsOfContinuousStates(fmi3Instance instance, fmi3Float64 nominals[], size_t nx) {
    Instance *inst = instance;
    if (check_count(inst, "fmi3GetNominalsOfContinuousStates", nx, MODEL_STATE_COUNT) != fmi3OK) return fmi3Error;
    model_get_nominals(inst->core.data, nominals);
    return fmi3OK;
}

fmi3Status fmi3GetNumberOfEventIndicators(fmi3Instance instance, size_t *nEventIndicators) {
    (void)instance;
    *nEventIndicators = MODEL_INDICATOR_COUNT;
    return fmi3OK;
}

fmi3Status fmi3GetNumberOfContinuousStates(fmi3Instance instance, size_t *nContinuousStates) {
    (void)instance;
    *nContinuousStates = MODEL_STATE_COUNT;
    return fmi3OK;
}

/* ---- Co-Simulation ---------------------------------------------------------------- */
fmi3Status fmi3EnterStepMode(fmi3Instance instance) {
    Instance *inst = instance;
    if (require_mode(inst, "fmi3EnterStepMode", MODE_EVENT) != fmi3OK) return fmi3Error;
    inst->core.mode = MODE_STEP;
    return fmi3OK;
}

fmi3Status fmi3DoStep(fmi3Instance instance, fmi3Float64 currentCommunicationPoint,
                      fmi3Float64 communicationStepSize, fmi3Boolean noSetFMUStatePriorToCurrentPoint,
                      fmi3Boolean *eventHandlingNeeded, fmi3Boolean *terminateSimulation, fmi3Boolean *earlyReturn,
                      fmi3Float64 *lastSuccessfulTime) {
    (void)noSetFMUStatePriorToCurrentPoint;
    Instance *inst = instance;
    ModelContext *ctx = &inst->core.ctx;
    if (require_mode(inst, "fmi3DoStep", MODE_STEP) != fmi3OK) return fmi3Error;
    if (fabs(currentCommunicationPoint - ctx->time) > 1e-9 * fmax(1.0, fabs(ctx->time))) {
        model_fail(ctx, "communication point %.17g differs from the FMU time %.17g", currentCommunicationPoint,
                   ctx->time);
        return fail(inst, "fmi3DoStep");
    }
    if (!(communicationStepSize >= 0.0)) {
        model_fail(ctx, "negative step size %g", communicationStepSize);
        return fail(inst, "fmi3DoStep");
    }
    ctx->time = currentCommunicationPoint;
    ctx->early_return_allowed = inst->early_return_allowed;
    StepResult r = {0};
    if (!model_step(inst->core.data, ctx, communicationStepSize, &r)) return fail(inst, "fmi3DoStep");
    if (!r.early_return) ctx->time = currentCommunicationPoint + communicationStepSize;
    *eventHandlingNeeded = r.event_encountered && inst->core.event_mode_used;
    *terminateSimulation = r.terminate;
    *earlyReturn = r.early_return;
    *lastSuccessfulTime = ctx->time;
    return fmi3OK;
}
