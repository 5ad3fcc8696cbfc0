// Renders an API Gateway integration response template with Apache Velocity 1.7, the engine
// API Gateway's mapping templates are written for, and $input as API Gateway offers it: path()
// and json() evaluate JSONPath (Jayway JsonPath over json-smart) on the integration's body.
// Reads one JSON string (a body) per line on stdin; writes one JSON object per line:
// {"body": the rendered text, "status": $context.responseOverride.status} or {"error": ...}.
// Used by tests/test_response_hardening_velocity.py.

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.io.StringWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.Map;

import com.jayway.jsonpath.JsonPath;
import net.minidev.json.JSONValue;
import org.apache.velocity.Template;
import org.apache.velocity.VelocityContext;
import org.apache.velocity.app.VelocityEngine;

public class RenderResponse {
    /** $input of an integration response. */
    public static class Input {
        private final String body;

        public Input(String body) {
            this.body = body;
        }

        public String getBody() {
            return body;
        }

        public Object path(String path) {
            return JsonPath.read(body, path);
        }

        public String json(String path) {
            return JSONValue.toJSONString(JsonPath.read(body, path));
        }
    }

    public static void main(String[] args) throws Exception {
        Path file = Paths.get(args[0]).toAbsolutePath();
        VelocityEngine engine = new VelocityEngine();
        engine.setProperty("runtime.log.logsystem.class", "org.apache.velocity.runtime.log.NullLogChute");
        // the template's folder, as Velocity 1.7 and 2 name the file loader's path
        engine.setProperty("file.resource.loader.path", file.getParent().toString());
        engine.setProperty("resource.loader.file.path", file.getParent().toString());
        engine.init();
        Template template = engine.getTemplate(file.getFileName().toString(), "UTF-8");  // parsed once
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        PrintStream out = new PrintStream(System.out, true, "UTF-8");
        String line;
        while ((line = in.readLine()) != null) {
            String body = (String) JSONValue.parse(line);
            Map<String, Object> override = new HashMap<>();
            override.put("header", new HashMap<String, Object>());
            Map<String, Object> gateway = new HashMap<>();
            gateway.put("requestId", "req-1");
            gateway.put("responseOverride", override);
            VelocityContext context = new VelocityContext();
            context.put("input", new Input(body));
            context.put("context", gateway);
            Map<String, Object> result = new LinkedHashMap<>();
            try {
                StringWriter rendered = new StringWriter();
                template.merge(context, rendered);
                result.put("body", rendered.toString());
                Object status = override.get("status");
                result.put("status", status == null ? null : status.toString());
            } catch (Exception e) {
                result.put("error", e.getClass().getName() + ": " + e.getMessage());
            }
            out.println(JSONValue.toJSONString(result));
        }
    }
}
