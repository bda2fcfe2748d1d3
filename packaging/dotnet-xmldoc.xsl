<?xml version="1.0" encoding="UTF-8"?>
<!--
  The XML documentation file a .NET build writes (GenerateDocumentationFile) as one HTML page:
  each documented type with its members, in the file's order. Used by packaging/docs.sh:
    xsltproc -o OUT.html packaging/dotnet-xmldoc.xsl RefToken.Interop.xml
-->
<xsl:stylesheet version="1.0" xmlns:xsl="http://www.w3.org/1999/XSL/Transform">
  <xsl:output method="html" encoding="UTF-8" indent="no" doctype-system="about:legacy-compat"/>
  <xsl:param name="version" select="''"/>

  <xsl:variable name="assembly" select="/doc/assembly/name"/>
  <xsl:variable name="types" select="/doc/members/member[starts-with(@name, 'T:')]"/>

  <xsl:template match="/">
    <html lang="en">
      <head>
        <meta charset="utf-8"/>
        <title><xsl:value-of select="$assembly"/> API reference</title>
        <style>
          body { font-family: sans-serif; max-width: 60em; margin: 2em auto; padding: 0 1em; line-height: 1.45; color: #222; }
          h2 { border-bottom: 1px solid #ccc; padding-bottom: .2em; margin-top: 2em; }
          h3 { font-size: 1em; margin: 1.4em 0 .3em; font-family: monospace; }
          code, pre { background: #f4f4f4; padding: 0 .2em; }
          pre { padding: .5em; overflow-x: auto; }
          dl { margin: .3em 0 .3em 1em; } dt { font-weight: bold; } dd { margin: 0 0 .3em 1.5em; }
          .kind { color: #777; font-weight: normal; font-size: .85em; }
          nav li { font-family: monospace; }
        </style>
      </head>
      <body>
        <h1><xsl:value-of select="$assembly"/>
          <xsl:if test="$version != ''"><xsl:text> </xsl:text><xsl:value-of select="$version"/></xsl:if>
        </h1>
        <p>From the assembly's XML documentation. <a href="index.html">All assemblies</a>.</p>
        <nav>
          <ul>
            <xsl:for-each select="$types">
              <li><a href="#{@name}"><xsl:value-of select="substring(@name, 3)"/></a></li>
            </xsl:for-each>
          </ul>
        </nav>
        <xsl:for-each select="$types">
          <xsl:variable name="type" select="substring(@name, 3)"/>
          <section>
            <h2 id="{@name}"><xsl:value-of select="$type"/></h2>
            <xsl:apply-templates select="." mode="body"/>
            <!-- Direct members: Kind:Type.Name or Kind:Type.Name(...), with no further dot before "(". -->
            <xsl:for-each select="/doc/members/member[not(starts-with(@name, 'T:'))]
                [starts-with(substring(@name, 3), concat($type, '.'))]
                [not(contains(substring-before(concat(substring(@name, 4 + string-length($type)), '('), '('), '.'))]">
              <xsl:apply-templates select="." mode="member"/>
            </xsl:for-each>
          </section>
        </xsl:for-each>
        <!-- Members whose type is not documented here. -->
        <xsl:variable name="orphans">
          <xsl:for-each select="/doc/members/member[not(starts-with(@name, 'T:'))]">
            <xsl:variable name="n" select="substring(@name, 3)"/>
            <xsl:if test="not($types[starts-with($n, concat(substring(@name, 3), '.'))])">
              <xsl:apply-templates select="." mode="member"/>
            </xsl:if>
          </xsl:for-each>
        </xsl:variable>
        <xsl:if test="string($orphans) != ''">
          <section>
            <h2 id="other">Other members</h2>
            <xsl:copy-of select="$orphans"/>
          </section>
        </xsl:if>
      </body>
    </html>
  </xsl:template>

  <xsl:template match="member" mode="member">
    <h3 id="{@name}">
      <xsl:value-of select="substring(@name, 3)"/>
      <xsl:text> </xsl:text>
      <span class="kind">
        <xsl:choose>
          <xsl:when test="starts-with(@name, 'M:') and contains(@name, '.#ctor')">constructor</xsl:when>
          <xsl:when test="starts-with(@name, 'M:')">method</xsl:when>
          <xsl:when test="starts-with(@name, 'P:')">property</xsl:when>
          <xsl:when test="starts-with(@name, 'F:')">field</xsl:when>
          <xsl:when test="starts-with(@name, 'E:')">event</xsl:when>
        </xsl:choose>
      </span>
    </h3>
    <xsl:apply-templates select="." mode="body"/>
  </xsl:template>

  <xsl:template match="member" mode="body">
    <xsl:apply-templates select="summary"/>
    <xsl:if test="inheritdoc"><p><i>Documentation inherited from the base member.</i></p></xsl:if>
    <xsl:if test="typeparam|param">
      <dl>
        <xsl:for-each select="typeparam|param">
          <dt><code><xsl:value-of select="@name"/></code></dt>
          <dd><xsl:apply-templates/></dd>
        </xsl:for-each>
      </dl>
    </xsl:if>
    <xsl:if test="returns|value">
      <dl><dt>Returns</dt><dd><xsl:apply-templates select="returns|value"/></dd></dl>
    </xsl:if>
    <xsl:if test="exception">
      <dl>
        <xsl:for-each select="exception">
          <dt>Throws <xsl:call-template name="cref"><xsl:with-param name="cref" select="@cref"/></xsl:call-template></dt>
          <dd><xsl:apply-templates/></dd>
        </xsl:for-each>
      </dl>
    </xsl:if>
    <xsl:apply-templates select="remarks|example"/>
  </xsl:template>

  <xsl:template match="summary"><p><xsl:apply-templates/></p></xsl:template>
  <xsl:template match="remarks|example"><div><xsl:apply-templates/></div></xsl:template>
  <xsl:template match="para"><p><xsl:apply-templates/></p></xsl:template>
  <xsl:template match="c"><code><xsl:apply-templates/></code></xsl:template>
  <xsl:template match="code"><pre><xsl:value-of select="."/></pre></xsl:template>
  <xsl:template match="paramref|typeparamref"><code><i><xsl:value-of select="@name"/></i></code></xsl:template>
  <xsl:template match="list"><ul><xsl:apply-templates select="item"/></ul></xsl:template>
  <xsl:template match="item">
    <li>
      <xsl:if test="term"><b><xsl:apply-templates select="term"/></b>: </xsl:if>
      <xsl:apply-templates select="description"/>
    </li>
  </xsl:template>
  <xsl:template match="see|seealso">
    <xsl:choose>
      <xsl:when test="@langword"><code><xsl:value-of select="@langword"/></code></xsl:when>
      <xsl:when test="@href"><a href="{@href}"><xsl:choose><xsl:when test="normalize-space(.)"><xsl:apply-templates/></xsl:when><xsl:otherwise><xsl:value-of select="@href"/></xsl:otherwise></xsl:choose></a></xsl:when>
      <xsl:otherwise><xsl:call-template name="cref"><xsl:with-param name="cref" select="@cref"/></xsl:call-template></xsl:otherwise>
    </xsl:choose>
  </xsl:template>

  <!-- A cref: a link when the member is documented here, else its name. -->
  <xsl:template name="cref">
    <xsl:param name="cref"/>
    <xsl:variable name="shown">
      <xsl:choose>
        <xsl:when test="contains($cref, '(')"><xsl:value-of select="substring-before(substring($cref, 3), '(')"/></xsl:when>
        <xsl:otherwise><xsl:value-of select="substring($cref, 3)"/></xsl:otherwise>
      </xsl:choose>
    </xsl:variable>
    <xsl:choose>
      <xsl:when test="/doc/members/member[@name = $cref]"><a href="#{$cref}"><code><xsl:value-of select="$shown"/></code></a></xsl:when>
      <xsl:otherwise><code><xsl:value-of select="$shown"/></code></xsl:otherwise>
    </xsl:choose>
  </xsl:template>
</xsl:stylesheet>
