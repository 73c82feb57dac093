package ai.labellake.lf;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.ConcurrentHashMap;
import java.util.regex.Pattern;
import org.apache.spark.sql.api.java.UDF1;

/**
 * The text LFs of a pack evaluated in one pass over a row's text: returns the
 * vote codes of the conditions that hold (each condition carries the code of
 * the vote it casts, see {@code lf_library/text_kernel.py}), or null when
 * none does, so a row without votes allocates nothing.
 *
 * <p>Why it exists: Spark evaluates each compiled text LF on its own. Its
 * {@code contains} walks the UTF-8 bytes one call at a time per keyword, each
 * {@code rlike} decodes the row to a Java string again, and {@code lower}
 * takes a slow path on any non-ASCII text. Here the text is decoded and
 * lowercased once, substrings are found with {@link String#indexOf} (a JIT
 * intrinsic), words are counted in a loop that stops early, and every regex
 * runs on the already-decoded string.
 *
 * <p>The semantics are those of {@code lf_library/compile.py} (Python's):
 * {@code lower} is Unicode full lowercase ({@link Locale#ROOT}), a word is a
 * run of characters outside Python's {@code str.isspace()} set, regexes are
 * the Java translations compile.py makes of Python's. A null text satisfies
 * no condition.
 *
 * <p>One instance per pack: the spec (JSON, built by text_kernel.py) is a
 * field, shipped to the executors with the UDF, and parsed once per executor
 * JVM. (Passing it as a literal argument instead cost a decode, a hash and an
 * equals of the whole spec per row: 11 kB for 73 regexes.)
 */
public final class LfKernel implements UDF1<String, int[]> {
    private static final long serialVersionUID = 2L;
    private static final ConcurrentHashMap<String, Condition[]> SPECS = new ConcurrentHashMap<>();
    private static final ObjectMapper JSON = new ObjectMapper();

    private final String spec;
    private transient Condition[] conditions;

    public LfKernel(String spec) {
        this.spec = spec;
        parse(spec); // fail on the driver, at registration, not in a task
    }

    /** One text LF's condition and the vote code it emits when it holds. */
    abstract static class Condition {
        final int code;

        Condition(JsonNode spec) {
            code = spec.get("code").asInt();
        }

        abstract boolean test(String text, Lowered lowered);
    }

    /** The lowercased text, computed at most once per row and only if some condition needs it. */
    static final class Lowered {
        private final String text;
        private String value;

        Lowered(String text) {
            this.text = text;
        }

        String get() {
            if (value == null) {
                value = text.toLowerCase(Locale.ROOT);
            }
            return value;
        }
    }

    static final class Keywords extends Condition {
        final boolean lower;
        final String[] keywords;
        final Pattern word;

        Keywords(JsonNode spec) {
            super(spec);
            lower = spec.get("lower").asBoolean();
            List<String> kws = new ArrayList<>();
            spec.get("keywords").forEach(k -> kws.add(k.asText()));
            keywords = kws.toArray(new String[0]);
            word = spec.hasNonNull("word_regex") ? Pattern.compile(spec.get("word_regex").asText()) : null;
        }

        @Override
        boolean test(String text, Lowered lowered) {
            String hay = lower ? lowered.get() : text;
            for (String k : keywords) {
                if (hay.indexOf(k) >= 0) {
                    return word == null || word.matcher(hay).find();
                }
            }
            return false;
        }
    }

    static final class Regex extends Condition {
        final boolean lowerTarget;
        final boolean lowerLiterals;
        /** Pre-filters: every match contains one string of each set (see compile.required_literal_sets). */
        final String[][] literalSets;
        final Pattern pattern;

        Regex(JsonNode spec) {
            super(spec);
            lowerTarget = spec.get("lower").asBoolean();
            lowerLiterals = spec.get("literals_lower").asBoolean();
            JsonNode sets = spec.get("literals");
            literalSets = new String[sets.size()][];
            for (int i = 0; i < sets.size(); i++) {
                List<String> alternatives = new ArrayList<>();
                sets.get(i).forEach(a -> alternatives.add(a.asText()));
                literalSets[i] = alternatives.toArray(new String[0]);
            }
            pattern = Pattern.compile(spec.get("pattern").asText());
        }

        private static boolean containsAny(String hay, String[] alternatives) {
            for (String a : alternatives) {
                if (hay.indexOf(a) >= 0) {
                    return true;
                }
            }
            return false;
        }

        @Override
        boolean test(String text, Lowered lowered) {
            if (literalSets.length > 0) {
                String hay = lowerLiterals ? lowered.get() : text;
                for (String[] alternatives : literalSets) {
                    if (!containsAny(hay, alternatives)) {
                        return false;
                    }
                }
            }
            return pattern.matcher(lowerTarget ? lowered.get() : text).find();
        }
    }

    /** Python's {@code len(text.split())} compared with bounds, counting no further than needed. */
    static final class WordCount extends Condition {
        final int min;
        final int max;

        WordCount(JsonNode spec) {
            super(spec);
            min = spec.hasNonNull("min") ? spec.get("min").asInt() : -1;
            max = spec.hasNonNull("max") ? spec.get("max").asInt() : -1;
        }

        static boolean isPySpace(int c) {
            // str.isspace(): Unicode White_Space plus the separators U+001C..U+001F.
            return Character.isWhitespace(c) || Character.isSpaceChar(c) || c == 0x85;
        }

        static int countWords(String text, int limit) {
            int words = 0;
            boolean inWord = false;
            for (int i = 0; i < text.length(); ) {
                int c = text.codePointAt(i);
                i += Character.charCount(c);
                if (isPySpace(c)) {
                    inWord = false;
                } else if (!inWord) {
                    inWord = true;
                    if (++words >= limit) {
                        return words;
                    }
                }
            }
            return words;
        }

        @Override
        boolean test(String text, Lowered lowered) {
            int limit = Math.max(min, max);
            int words = countWords(text, limit <= 0 ? Integer.MAX_VALUE : limit);
            return (min < 0 || words >= min) && (max < 0 || words < max);
        }
    }

    static Condition[] parse(String spec) {
        try {
            JsonNode root = JSON.readTree(spec);
            Condition[] conditions = new Condition[root.size()];
            for (int i = 0; i < root.size(); i++) {
                JsonNode c = root.get(i);
                switch (c.get("kind").asText()) {
                    case "keywords": conditions[i] = new Keywords(c); break;
                    case "regex": conditions[i] = new Regex(c); break;
                    case "words": conditions[i] = new WordCount(c); break;
                    default: throw new IllegalArgumentException("unknown condition kind " + c.get("kind"));
                }
            }
            return conditions;
        } catch (java.io.IOException e) {
            throw new IllegalArgumentException("labellake LF kernel: bad spec: " + e.getMessage(), e);
        }
    }

    @Override
    public int[] call(String text) {
        if (text == null) {
            return null;
        }
        if (conditions == null) {
            conditions = SPECS.computeIfAbsent(spec, LfKernel::parse);
        }
        Lowered lowered = new Lowered(text);
        int[] fired = null;
        int n = 0;
        for (Condition condition : conditions) {
            if (condition.test(text, lowered)) {
                if (fired == null) {
                    fired = new int[conditions.length];
                }
                fired[n++] = condition.code;
            }
        }
        return fired == null ? null : java.util.Arrays.copyOf(fired, n);
    }
}
