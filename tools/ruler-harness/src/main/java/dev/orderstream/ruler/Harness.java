package dev.orderstream.ruler;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.BufferedReader;
import java.io.BufferedWriter;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStreamWriter;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import software.amazon.event.ruler.Machine;

/**
 * Reads JSON lines on stdin and answers each with event-ruler's verdict on stdout, one line per input line.
 *
 * <p>{"rule": R, "event": E} answers "match", "no match", "invalid: why" (ruler refused the rule) or
 * "error: why" (ruler refused the event). {"rules": [R, ...], "events": [E, ...]} compiles every rule into one
 * Machine (rule i is named i) and answers "set " plus a JSON array holding, per event, the sorted indexes of the
 * rules that match it (none for an event ruler refuses), or "invalid: why" when a rule is refused.
 *
 * <p>R and E given as JSON strings are handed to ruler as written (so 1E309 or a duplicate key reaches it
 * untouched); any other JSON value is re-encoded first. One JVM serves a whole file.
 */
public final class Harness {

    private static final ObjectMapper JSON = new ObjectMapper();

    private String cachedRule;
    private Machine cachedMachine;
    private String cachedProblem;

    private Harness() { }

    public static void main(final String[] args) throws IOException {
        final Harness harness = new Harness();
        final BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        final BufferedWriter out = new BufferedWriter(new OutputStreamWriter(System.out, StandardCharsets.UTF_8));
        String line;
        while ((line = in.readLine()) != null) {
            if (line.isBlank()) {
                continue;
            }
            out.write(harness.answer(line));
            out.write('\n');
        }
        out.flush();
    }

    private String answer(final String line) {
        final JsonNode request;
        try {
            request = JSON.readTree(line);
        } catch (IOException e) {
            return "error: bad request line: " + oneLine(e.getMessage());
        }
        if (request.has("rules")) {
            return answerSet(request.get("rules"), request.get("events"));
        }
        return answerOne(text(request.get("rule")), text(request.get("event")));
    }

    private String answerOne(final String rule, final String event) {
        if (!rule.equals(cachedRule)) {
            cachedRule = rule;
            cachedMachine = new Machine();
            cachedProblem = null;
            try {
                cachedMachine.addRule("rule", rule);
            } catch (Exception e) {
                cachedProblem = oneLine(e.getMessage());
            }
        }
        if (cachedProblem != null) {
            return "invalid: " + cachedProblem;
        }
        try {
            return cachedMachine.rulesForJSONEvent(event).isEmpty() ? "no match" : "match";
        } catch (Exception e) {
            return "error: " + oneLine(e.getMessage());
        }
    }

    private String answerSet(final JsonNode rules, final JsonNode events) {
        final Machine machine = new Machine();
        for (int i = 0; i < rules.size(); i++) {
            try {
                machine.addRule(Integer.toString(i), text(rules.get(i)));
            } catch (Exception e) {
                return "invalid: rule " + i + ": " + oneLine(e.getMessage());
            }
        }
        final StringBuilder answer = new StringBuilder("set [");
        for (int e = 0; e < events.size(); e++) {
            final List<Integer> matched = new ArrayList<>();
            try {
                for (final String name : machine.rulesForJSONEvent(text(events.get(e)))) {
                    matched.add(Integer.valueOf(name));
                }
            } catch (Exception ex) {
                matched.clear(); // ruler refuses the event (not a JSON object): no rule matches it
            }
            matched.sort(null);
            answer.append(e == 0 ? "" : ",").append(matched.toString().replace(" ", ""));
        }
        return answer.append(']').toString();
    }

    private static String text(final JsonNode node) {
        if (node == null) {
            return "";
        }
        return node.isTextual() ? node.textValue() : node.toString();
    }

    private static String oneLine(final String message) {
        return message == null ? "(no message)" : message.replace('\n', ' ').replace('\r', ' ');
    }
}
